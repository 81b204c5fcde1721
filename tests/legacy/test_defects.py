"""One test per defect of the published 0.2.x server; each fails against the published behaviour."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import mcp_types as types
import pytest

from atlassian_sandbox.seed import ALICE, BOB
from tests.conftest import SandboxServer
from tests.legacy.harness import call, fail, legacy_client, page_id, rest, user_ref

pytestmark = pytest.mark.anyio


def _query(entry: dict[str, object]) -> dict[str, list[str]]:
    return parse_qs(str(entry.get("query") or ""))


async def test_resources_read_as_markdown(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x parsed resource URIs wrongly, so every read failed."""
    architecture = page_id(sandbox, "Architecture Overview")
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        issue = await client.read_resource("jira://issue/DEMO-6")
        content = issue.contents[0]
        assert isinstance(content, types.TextResourceContents) and content.mime_type == "text/markdown"
        assert content.text.startswith("# DEMO-6: As a shopper I can apply a gift card")
        for uri in (f"confluence://page/{architecture}", f"confluence://space/ENG/page/{architecture}"):
            page = (await client.read_resource(uri)).contents[0]
            assert isinstance(page, types.TextResourceContents)
            assert page.text.startswith("# Architecture Overview") and "**three services**" in page.text


async def test_transition_answered_204_is_success(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x parsed the empty 204 body as JSON and reported an error after the transition happened."""
    sandbox.reset()
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        result = await client.call_tool("transition-jira-issue", {"issue_key": "DEMO-13", "transition_name": "Done"})
        assert not result.is_error
    posts = [r for r in sandbox.requests() if r["method"] == "POST" and r["path"].endswith("/DEMO-13/transitions")]
    assert [r["status"] for r in posts] == [204]
    issue = (await rest(sandbox, "/rest/api/2/issue/DEMO-13")).json()
    assert issue["fields"]["status"]["name"] == "Done"


async def test_unassigned_issue_with_null_priority_and_reporter(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x crashed on issue['fields']['assignee']['displayName'] and friends when they were null."""
    raw = (await rest(sandbox, "/rest/api/2/issue/DEMO-8")).json()["fields"]
    assert raw["assignee"] is None and raw["priority"] is None and raw["reporter"] is None
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        text = await call(client, "get-jira-issue", {"issue_key": "DEMO-8"})
        assert "**Assignee**: Unassigned" in text and "**Priority**: None" in text and "**Reporter**: None" in text
        summary = await call(client, "summarize-jira-issue", {"issue_key": "DEMO-8"})
        assert "assigned to nobody" in summary


async def test_comments_reach_prompts_and_resources(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x never fetched comments for prompts or resources."""
    architecture = page_id(sandbox, "Architecture Overview")
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        prompt = await client.get_prompt("summarize-jira-issue", {"issue_key": "DEMO-6"})
        message = prompt.messages[0].content
        assert isinstance(message, types.TextContent)
        assert "Blocked until the balance endpoint is done." in message.text
        page_prompt = await client.get_prompt("summarize-confluence-page", {"page_id": architecture})
        page_message = page_prompt.messages[0].content
        assert isinstance(page_message, types.TextContent)
        assert "Yes, I will write it next sprint." in page_message.text
        question = await client.get_prompt("answer-confluence-question",
                                           {"page_id": architecture, "question": "Who writes the search page?"})
        assert isinstance(question.messages[0].content, types.TextContent)
        assert "Should the search service get its own page?" in question.messages[0].content.text
        issue = (await client.read_resource("jira://issue/DEMO-9")).contents[0]
        assert isinstance(issue, types.TextResourceContents) and "The template hard-codes USD." in issue.text
        page = (await client.read_resource(f"confluence://page/{architecture}")).contents[0]
        assert isinstance(page, types.TextResourceContents) and "Carol Coder" in page.text


async def test_errors_are_is_error_with_jiras_message(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x returned errors as ordinary text (isError=false) and hid errorMessages."""
    expected = (await rest(sandbox, "/rest/api/2/issue/NOPE-1")).json()["errorMessages"]
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        message = await fail(client, "get-jira-issue", {"issue_key": "NOPE-1"})
        assert expected and all(m in message for m in expected)


async def test_search_uses_the_api_of_the_deployment(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x used /rest/api/2/search, which Jira Cloud removed (410). Pages are followed either way."""
    sandbox.reset()
    env = {**sandbox.env(ALICE), "JIRA_SEARCH_PAGE_SIZE": "10"}
    async with legacy_client(env, tmp_path) as client:
        found = await call(client, "search-jira-issues",
                           {"jql": "project in (DEMO, OPS) ORDER BY key ASC", "max_results": 30})
        assert "30 issue(s)" in found
        await call(client, "get-my-assigned-issues")
    log = sandbox.requests()
    legacy = [r for r in log if r["path"] == "/rest/api/2/search"]
    enhanced = [r for r in log if r["path"].endswith("/search/jql")]
    if sandbox.mode == "cloud":
        assert not legacy and len(enhanced) >= 4
        tokens = [_query(r).get("nextPageToken") for r in enhanced[:3]]
        assert tokens[0] is None and tokens[1] and tokens[2]
    else:
        assert not enhanced and len(legacy) >= 4
        assert [_query(r)["startAt"] for r in legacy[:3]] == [["0"], ["10"], ["20"]]


async def test_assignee_by_account_id_on_cloud(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x sent {"name": ...}, which Cloud rejects; Cloud needs the accountId (found by user search)."""
    sandbox.reset()
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        text = await call(client, "assign-jira-issue", {"issue_key": "DEMO-15", "assignee": user_ref(sandbox, BOB)})
        assert "**Assignee**: Bob Builder" in text
    assignee = (await rest(sandbox, "/rest/api/2/issue/DEMO-15")).json()["fields"]["assignee"]
    if sandbox.mode == "cloud":
        assert assignee["accountId"] == BOB.account_id
    else:
        assert assignee["name"] == BOB.name


async def test_story_points_are_requested(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x never asked for the story points field, so estimates always fell back."""
    sandbox.reset()
    fields = (await rest(sandbox, "/rest/api/2/field")).json()
    points = next(f["id"] for f in fields if f["name"] == "Story Points")
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        issue = await call(client, "get-jira-issue", {"issue_key": "DEMO-13"})
        assert "**Story Points**: 13" in issue
        estimate = await call(client, "estimate-story-points", {"issue_key": "DEMO-19"})
        assert "similar resolved issue(s)" in estimate
    gets = [r for r in sandbox.requests() if r["path"].endswith("/issue/DEMO-13")]
    assert points in _query(gets[0])["fields"][0].split(",")
    searches = [r for r in sandbox.requests() if "search" in r["path"]]
    assert all(points in _query(r)["fields"][0].split(",") for r in searches)


async def test_markdown_is_converted_for_jira_and_confluence(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x sent descriptions and page bodies raw."""
    sandbox.reset()
    markdown = "## Plan\n\n- **first** item\n- second with `code`\n\n```python\nprint('hi')\n```"
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        await call(client, "create-jira-issue", {"project_key": "OPS", "summary": "Converted", "issue_type": "Task",
                                                 "description": markdown})
        page = await client.call_tool("create-confluence-page",
                                      {"space_key": "DOCS", "title": "Converted page", "content": markdown})
        assert not page.is_error
        resource = page.content[1]
        assert isinstance(resource, types.EmbeddedResource)
        new_page = resource.resource.uri.rsplit("/", 1)[1]
    wiki = (await rest(sandbox, "/rest/api/2/issue/OPS-16")).json()["fields"]["description"]
    assert wiki.startswith("h2. Plan") and "* *first* item" in wiki and "{{code}}" in wiki
    assert "{code:python}\nprint('hi')\n{code}" in wiki
    storage = (await rest(sandbox, f"/rest/api/content/{new_page}", {"expand": "body.storage"}, confluence=True)
               ).json()["body"]["storage"]["value"]
    assert "<h2>Plan</h2>" in storage and "<strong>first</strong>" in storage
    assert '<ac:structured-macro ac:name="code"' in storage and "<![CDATA[print('hi')\n]]>" in storage


async def test_reads_retry_on_429_and_503(sandbox: SandboxServer, tmp_path: Path) -> None:
    """0.2.x had no retries: one 429 failed the call."""
    sandbox.reset()
    guide = page_id(sandbox, "Deployment Guide")
    sandbox.fault(method="GET", path=f"/content/{guide}$", status=429, retry_after=0, times=2)
    sandbox.fault(method="GET", path="/rest/api/2/project$", status=503, retry_after=0, times=1)
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        page = await call(client, "get-confluence-page", {"page_id": guide, "include_comments": False})
        assert page.startswith("# Deployment Guide")
        projects = await call(client, "get-jira-projects")
        assert "Demo Project" in projects
    statuses = [r["status"] for r in sandbox.requests() if r["path"].endswith(f"/content/{guide}")]
    assert statuses[:3] == [429, 429, 200]
