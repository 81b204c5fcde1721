"""Listings, configuration switches, and start-up with nothing or bad things configured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import mcp_types as types
import pytest

from atlassian_sandbox.seed import ALICE
from tests.conftest import SandboxServer
from tests.legacy.harness import REPO, call, fail, legacy_client, page_id
from tests.support.procs import script

pytestmark = pytest.mark.anyio

LEGACY_TOOLS = {
    "get-jira-issue": {"issue_key"}, "get-my-assigned-issues": set(), "summarize-jira-issue": {"issue_key"},
    "extract-confluence-links": {"issue_key"}, "create-jira-issue": {"project_key", "summary", "issue_type"},
    "comment-jira-issue": {"issue_key", "comment"}, "get-jira-transitions": {"issue_key"},
    "transition-jira-issue": {"issue_key"}, "get-agile-boards": set(), "get-board-sprints": {"board_id"},
    "get-daily-standup-summary": {"board_id"}, "get-task-assignment-recommendations": {"issue_key"},
    "estimate-story-points": {"issue_key"}, "search-confluence": {"query"}, "get-confluence-page": set(),
    "ask-confluence-page": {"question"}, "create-confluence-page": {"space_key", "title", "content"},
    "update-confluence-page": {"page_id", "title", "content"}, "comment-confluence-page": {"page_id", "comment"},
}
LEGACY_ARGUMENTS = {
    "get-jira-issue": {"include_comments"}, "get-my-assigned-issues": {"max_results", "include_done"},
    "extract-confluence-links": {"include_git_urls"}, "create-jira-issue": {"description", "assignee"},
    "transition-jira-issue": {"transition_name", "transition_id"}, "get-agile-boards": {"project_key"},
    "get-board-sprints": {"state"}, "search-confluence": {"space_key", "max_results"},
    "get-confluence-page": {"page_id", "title", "space_key", "include_comments", "include_history", "format"},
    "ask-confluence-page": {"page_id", "title", "space_key", "context_type"},
    "create-confluence-page": {"parent_id", "content_format"},
    "update-confluence-page": {"version", "content_format", "version_comment", "minor_edit"},
}
ADDED_TOOLS = {
    "search-jira-issues", "update-jira-issue", "assign-jira-issue", "get-jira-projects", "get-jira-project-versions",
    "get-jira-current-user", "search-jira-users", "get-jira-create-fields", "add-jira-worklog", "link-jira-issues",
    "get-sprint-issues", "get-confluence-spaces", "get-confluence-page-children", "get-confluence-comments",
    "get-confluence-labels", "add-confluence-label", "delete-confluence-page",
}
WRITE_TOOLS = {
    "create-jira-issue", "comment-jira-issue", "transition-jira-issue", "create-confluence-page",
    "update-confluence-page", "comment-confluence-page", "update-jira-issue", "assign-jira-issue",
    "add-jira-worklog", "link-jira-issues", "add-confluence-label", "delete-confluence-page",
}
PROMPTS = {
    "summarize-jira-issue", "create-jira-description", "summarize-confluence-page", "create-confluence-content",
    "answer-confluence-question",
}
NOT_CONFIGURED = (
    "Jira is not configured: set JIRA_URL and JIRA_USERNAME + JIRA_API_TOKEN (Cloud) or JIRA_PERSONAL_TOKEN "
    "(Server/Data Center)"
)


async def test_listings_are_complete(sandbox_cloud: SandboxServer, tmp_path: Path) -> None:
    async with legacy_client(sandbox_cloud.env(ALICE), tmp_path) as client:
        assert client.server_info is not None and client.server_info.name == "mcp-jira-confluence"
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == set(LEGACY_TOOLS) | ADDED_TOOLS
        for name, required in LEGACY_TOOLS.items():
            schema = tools[name].input_schema
            assert schema["type"] == "object" and set(schema.get("required", [])) == required, name
            assert required | LEGACY_ARGUMENTS.get(name, set()) <= set(schema["properties"]), name
        for name, tool in tools.items():
            assert tool.annotations is not None and tool.annotations.read_only_hint is (name not in WRITE_TOOLS)
        prompts = (await client.list_prompts()).prompts
        assert {p.name for p in prompts} == PROMPTS
        templates = (await client.list_resource_templates()).resource_templates
        assert {t.uri_template for t in templates} == {
            "jira://issue/{key}", "confluence://page/{id}", "confluence://space/{key}/page/{id}",
        }
        recent = [r.uri for r in (await client.list_resources()).resources]
        assert any(u.startswith("jira://issue/") for u in recent)
        assert any(u.startswith("confluence://page/") for u in recent)
        readable = await client.read_resource(recent[0])
        assert isinstance(readable.contents[0], types.TextResourceContents) and readable.contents[0].text


async def test_tool_results_embed_the_resource(sandbox_cloud: SandboxServer, tmp_path: Path) -> None:
    async with legacy_client(sandbox_cloud.env(ALICE), tmp_path) as client:
        result = await client.call_tool("get-jira-issue", {"issue_key": "OPS-2"})
        text, embedded = result.content
        assert isinstance(text, types.TextContent) and isinstance(embedded, types.EmbeddedResource)
        assert isinstance(embedded.resource, types.TextResourceContents)
        assert embedded.resource.uri == "jira://issue/OPS-2" and embedded.resource.text == text.text


async def test_read_only_mode_lists_and_accepts_no_write_tool(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    async with legacy_client({**sandbox.env(ALICE), "READ_ONLY_MODE": "true"}, tmp_path) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == (set(LEGACY_TOOLS) | ADDED_TOOLS) - WRITE_TOOLS
        for tool in sorted(WRITE_TOOLS):
            message = await fail(client, tool, {})
            assert "READ_ONLY_MODE" in message
        assert "DEMO-1" in await call(client, "get-jira-issue", {"issue_key": "DEMO-1"})
    assert not [r for r in sandbox.requests() if r["method"] in {"POST", "PUT", "DELETE"}]


async def test_enabled_tools_limits_the_set(sandbox_dc: SandboxServer, tmp_path: Path) -> None:
    env = {**sandbox_dc.env(ALICE), "ENABLED_TOOLS": "get-jira-issue, search-confluence"}
    async with legacy_client(env, tmp_path) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"get-jira-issue", "search-confluence"}
        assert "Unknown tool" in await fail(client, "get-jira-projects")


async def test_nothing_configured_starts_and_explains(tmp_path: Path) -> None:
    async with legacy_client({}, tmp_path) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) == len(LEGACY_TOOLS) + len(ADDED_TOOLS)
        assert await fail(client, "get-jira-issue", {"issue_key": "DEMO-1"}) == NOT_CONFIGURED
        confluence = await fail(client, "get-confluence-spaces")
        assert confluence == NOT_CONFIGURED.replace("Jira", "Confluence").replace("JIRA", "CONFLUENCE")
        assert (await client.list_resources()).resources == []


async def test_bad_arguments_are_clear(sandbox_dc: SandboxServer, tmp_path: Path) -> None:
    async with legacy_client(sandbox_dc.env(ALICE), tmp_path) as client:
        assert "'issue_key' is required" in await fail(client, "get-jira-issue", {})
        assert "must be of type integer" in await fail(client, "get-board-sprints", {"board_id": "one"})
        assert "Unknown argument(s)" in await fail(client, "get-jira-issue", {"issue_key": "DEMO-1", "bogus": 1})
        assert "page_id or title + space_key" in await fail(client, "get-confluence-page", {})
        assert "No transition" in await fail(client, "transition-jira-issue",
                                             {"issue_key": "DEMO-1", "transition_name": "Teleport"})
        with pytest.raises(Exception, match="Unknown resource URI"):
            await client.read_resource("jira://board/1")


def test_bad_configuration_exits_with_a_clear_message() -> None:
    env = {"PATH": "/usr/bin:/bin", "JIRA_URL": "http://127.0.0.1:9", "JIRA_PERSONAL_TOKEN": "pat-secret-xyz",
           "JIRA_TIMEOUT": "soon"}
    done = subprocess.run([script("mcp-jira-confluence")], env=env, input=b"", capture_output=True, timeout=30,
                          cwd=REPO, check=False)
    assert done.returncode == 2 and done.stdout == b""
    assert b"JIRA_TIMEOUT must be a number" in done.stderr and b"pat-secret-xyz" not in done.stderr


async def test_project_and_space_filters(sandbox: SandboxServer, tmp_path: Path) -> None:
    ops_page = page_id(sandbox, "Architecture Overview")
    env = {**sandbox.env(ALICE), "JIRA_PROJECTS_FILTER": "DEMO", "CONFLUENCE_SPACES_FILTER": "DOCS"}
    async with legacy_client(env, tmp_path) as client:
        found = await call(client, "search-jira-issues", {"jql": "labels = bug ORDER BY key ASC", "max_results": 50})
        assert "DEMO-5" in found and "OPS-" not in found and "SEC-" not in found
        assert "JIRA_PROJECTS_FILTER" in await fail(client, "get-jira-issue", {"issue_key": "OPS-1"})
        projects = await call(client, "get-jira-projects")
        assert "| DEMO |" in projects and "| OPS |" not in projects
        pages = await call(client, "search-confluence", {"query": "guide"})
        assert "User Guide" in pages and "Deployment Guide" not in pages
        assert "CONFLUENCE_SPACES_FILTER" in await fail(client, "get-confluence-page", {"page_id": ops_page})


async def test_deployment_override_and_email_alias(sandbox_cloud: SandboxServer, tmp_path: Path) -> None:
    sandbox_cloud.reset()
    env = sandbox_cloud.env(ALICE)
    env["JIRA_EMAIL"] = env.pop("JIRA_USERNAME")
    env["CONFLUENCE_EMAIL"] = env.pop("CONFLUENCE_USERNAME")
    async with legacy_client({**env, "JIRA_DEPLOYMENT": "cloud"}, tmp_path) as client:
        assert "DEMO-" in await call(client, "search-jira-issues", {"jql": "project = DEMO"})
        assert "ENG" in await call(client, "get-confluence-spaces")
    assert not [r for r in sandbox_cloud.requests() if r["path"].endswith("/serverInfo")]
    async with legacy_client({**env, "JIRA_DEPLOYMENT": "server"}, tmp_path) as client:
        # Forced to the Server API, the Cloud sandbox answers the legacy search with 410 Gone.
        assert "Jira answered 410" in await fail(client, "search-jira-issues", {"jql": "project = DEMO"})


async def test_stdout_is_protocol_only_under_load(sandbox_dc: SandboxServer, tmp_path: Path) -> None:
    """Concurrent calls of every read kind: the tap's transcript check runs when the session closes."""
    async with legacy_client(sandbox_dc.env(ALICE), tmp_path) as client:
        results: list[str] = []

        async def one(key: str) -> None:
            results.append(await call(client, "get-jira-issue", {"issue_key": key}))

        async with anyio.create_task_group() as tg:
            for n in range(1, 16):
                tg.start_soon(one, f"OPS-{n}")
        assert len(results) == 15 and all(r.startswith("# OPS-") for r in results)
