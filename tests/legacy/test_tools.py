"""Every tool, called through a real MCP stdio client against the sandbox in both modes.

Expected values come from the sandbox seed (atlassian_sandbox.seed_jira / seed_confluence).
"""

from __future__ import annotations

from pathlib import Path

import mcp_types as types
import pytest

from atlassian_sandbox.seed import ALICE, BOB, CAROL
from tests.conftest import SandboxServer
from tests.legacy.harness import call, legacy_client, page_id, rest, user_ref

pytestmark = pytest.mark.anyio


async def test_jira_read_tools(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        issue = await call(client, "get-jira-issue", {"issue_key": "DEMO-6"})
        assert issue.startswith("# DEMO-6: As a shopper I can apply a gift card")
        assert "**Assignee**: Bob Builder" in issue and "**Story Points**: 8" in issue
        assert "## Comments (3)" in issue and "Let's demo this on Friday." in issue
        assert "**Orders Service**" in issue  # wiki *bold* read back as markdown

        mine = await call(client, "get-my-assigned-issues", {"max_results": 50})
        assert "DEMO-1**" in mine and "OPS-12**" in mine and "DEMO-4**" not in mine  # DEMO-4 is done
        with_done = await call(client, "get-my-assigned-issues", {"max_results": 50, "include_done": True})
        assert "DEMO-4**" in with_done and "BOB" not in with_done

        summary = await call(client, "summarize-jira-issue", {"issue_key": "DEMO-6"})
        assert "# Summary of DEMO-6" in summary and "Latest comments (3 in total)" in summary
        assert "assigned to Bob Builder" in summary

        links = await call(client, "extract-confluence-links", {"issue_key": "DEMO-2"})
        confluence_part, git_part = links.split("## Git URLs")
        assert "Architecture Overview" in confluence_part
        assert "https://github.com/example/platform/pull/42" in git_part
        no_git = await call(client, "extract-confluence-links", {"issue_key": "DEMO-2", "include_git_urls": False})
        assert "github.com" not in no_git

        transitions = await call(client, "get-jira-transitions", {"issue_key": "DEMO-8"})
        assert "| In Progress |" in transitions and "| Done |" in transitions

        boards = await call(client, "get-agile-boards", {"project_key": "DEMO"})
        assert "DEMO board" in boards and "OPS board" not in boards

        sprints = await call(client, "get-board-sprints", {"board_id": 1})
        assert "DEMO Sprint 2 | active" in sprints and "DEMO Sprint 3 | future" in sprints
        closed = await call(client, "get-board-sprints", {"board_id": 1, "state": "closed"})
        assert "DEMO Sprint 1" in closed and "DEMO Sprint 2" not in closed

        standup = await call(client, "get-daily-standup-summary", {"board_id": 1})
        assert "# Stand-up: DEMO Sprint 2" in standup and "Gift cards and refunds" in standup
        assert "## Bob Builder" in standup and "DEMO-6" in standup
        kanban = await call(client, "get-daily-standup-summary", {"board_id": 2})
        assert "OPS-12" in kanban and "15 issue(s)" in kanban

        recommend = await call(client, "get-task-assignment-recommendations", {"issue_key": "DEMO-8"})
        for person in ("Alice Admin", "Bob Builder", "Carol Coder"):
            assert person in recommend
        assert "Recommended: **" in recommend

        estimate = await call(client, "estimate-story-points", {"issue_key": "DEMO-12"})
        # Resolved DEMO stories with points: DEMO-2 (5), DEMO-3 (3), DEMO-22 (2): median 3.
        assert "Estimate: **3** points" in estimate and "DEMO-22" in estimate

        found = await call(client, "search-jira-issues",
                           {"jql": "project = DEMO AND labels = checkout ORDER BY key ASC"})
        assert "6 issue(s)" in found
        assert found.index("**DEMO-1**") < found.index("**DEMO-2**") < found.index("**DEMO-21**")

        projects = await call(client, "get-jira-projects")
        assert "| DEMO | Demo Project |" in projects and "| SEC | Security |" in projects

        versions = await call(client, "get-jira-project-versions", {"project_key": "DEMO"})
        assert "| 1.0 | yes |" in versions and "| 2.0 | no |" in versions

        me = await call(client, "get-jira-current-user")
        assert "Alice Admin" in me
        assert (ALICE.account_id if sandbox.mode == "cloud" else "**Username**: alice") in me

        users = await call(client, "search-jira-users", {"query": "bob"})
        assert "Bob Builder" in users and (BOB.account_id if sandbox.mode == "cloud" else "| bob |") in users

        create_fields = await call(client, "get-jira-create-fields", {"project_key": "DEMO", "issue_type": "Bug"})
        assert "| summary | Summary | yes |" in create_fields and "Story Points" in create_fields

        sprint_issues = await call(client, "get-sprint-issues", {"sprint_id": 2})
        assert "9 issue(s)" in sprint_issues and "DEMO-6" in sprint_issues and "DEMO-2**" not in sprint_issues


async def test_jira_write_tools(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        created = await call(client, "create-jira-issue", {
            "project_key": "DEMO", "summary": "Write the release checklist", "issue_type": "Task",
            "description": "## Steps\n\n- **tag** the build\n- `make release`", "assignee": user_ref(sandbox, BOB),
            "priority": "High", "labels": ["release"],
        })
        assert "Created issue **DEMO-26**" in created and "**Assignee**: Bob Builder" in created
        assert "- **tag** the build" in created and "**Labels**: release" in created

        commented = await call(client, "comment-jira-issue", {"issue_key": "DEMO-26", "comment": "Started *today*"})
        assert "## Comments (1)" in commented and "Started _today_" in commented

        moved = await call(client, "transition-jira-issue", {"issue_key": "DEMO-26", "transition_name": "In Progress"})
        assert "**Status**: In Progress" in moved
        done = await call(client, "transition-jira-issue", {"issue_key": "DEMO-26", "transition_id": "41"})
        assert "**Status**: Done" in done

        updated = await call(client, "update-jira-issue", {
            "issue_key": "DEMO-26", "summary": "Release checklist v2", "description": "Only *one* step now",
            "fields": {"customfield_10016": 5},
        })
        assert "# DEMO-26: Release checklist v2" in updated and "Only _one_ step now" in updated
        assert "**Story Points**: 5" in updated

        assigned = await call(client, "assign-jira-issue", {"issue_key": "DEMO-26", "assignee": user_ref(sandbox, CAROL)})
        assert "**Assignee**: Carol Coder" in assigned
        unassigned = await call(client, "assign-jira-issue", {"issue_key": "DEMO-26"})
        assert "**Assignee**: Unassigned" in unassigned

        logged = await call(client, "add-jira-worklog", {
            "issue_key": "DEMO-26", "time_spent": "1h 30m", "comment": "pairing", "started": "2026-01-05T09:00:00Z",
        })
        assert "Logged 1h 30m on **DEMO-26**" in logged

        linked = await call(client, "link-jira-issues",
                            {"link_type": "Blocks", "inward_issue": "DEMO-26", "outward_issue": "DEMO-12"})
        assert "blocks **DEMO-12**" in linked

    # What the server wrote, read straight from the sandbox.
    issue = (await rest(sandbox, "/rest/api/2/issue/DEMO-26")).json()
    assert issue["fields"]["description"] == "Only _one_ step now"  # markdown became wiki markup
    assert issue["fields"]["assignee"] is None and issue["fields"]["status"]["name"] == "Done"


async def test_confluence_read_tools(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    architecture = page_id(sandbox, "Architecture Overview")
    gateway = page_id(sandbox, "Gateway Design")
    home = page_id(sandbox, "Engineering Home")
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        found = await call(client, "search-confluence", {"query": "deployment"})
        assert "Deployment Guide" in found and 'title ~ "deployment"' in found
        howto = await call(client, "search-confluence", {"query": "label = howto", "space_key": "ENG"})
        assert "Rollback Procedure" in howto and "Gateway Rate Limiting" in howto and "Checkout FAQ" not in howto

        page = await call(client, "get-confluence-page", {"page_id": architecture})
        assert page.startswith("# Architecture Overview") and "**three services**" in page
        assert '```python\ndef handler(event):\n    return {"ok": True}\n```' in page  # the code macro
        assert "| Gateway | Alice | Go |" in page and "## Comments (2)" in page
        by_title = await call(client, "get-confluence-page", {
            "title": "Deployment Guide", "space_key": "ENG", "include_history": True, "include_comments": False,
        })
        assert "v2 " in by_title and "Add build step" in by_title and "## Comments" not in by_title
        assert "```bash\nmake deploy ENV=staging\n```" in by_title

        raw = await call(client, "get-confluence-page", {"page_id": architecture, "format": "raw"})
        direct = await rest(sandbox, f"/rest/api/content/{architecture}", {"expand": "body.storage"}, confluence=True)
        assert raw == direct.json()["body"]["storage"]["value"]  # byte-for-byte

        answer = await call(client, "ask-confluence-page", {
            "question": "What are the rate limits?", "page_id": gateway, "context_type": "relevant",
        })
        assert "100 requests per minute" in answer and "What are the rate limits?" in answer

        spaces = await call(client, "get-confluence-spaces")
        assert "| ENG | Engineering |" in spaces and "| DOCS | Documentation |" in spaces

        children = await call(client, "get-confluence-page-children", {"page_id": home})
        assert "Architecture Overview" in children and "Deployment Guide" in children
        assert "Gateway Design" not in children  # a grandchild

        comments = await call(client, "get-confluence-comments", {"page_id": architecture})
        assert "Should the search service get its own page?" in comments and "Carol Coder" in comments

        labels = await call(client, "get-confluence-labels", {"page_id": architecture})
        assert "architecture, design" in labels


async def test_confluence_write_tools(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    home = page_id(sandbox, "Engineering Home")
    onboarding = page_id(sandbox, "Onboarding Checklist")
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        result = await client.call_tool("create-confluence-page", {
            "space_key": "ENG", "title": "Incident Review", "parent_id": home,
            "content": "# Timeline\n\n- **09:00** alert\n\n```sh\nkubectl get pods\n```",
        })
        assert not result.is_error
        created = result.content[0]
        assert isinstance(created, types.TextContent) and "Created page **Incident Review**" in created.text
        embedded = result.content[1]
        assert isinstance(embedded, types.EmbeddedResource) and embedded.resource.uri.startswith("confluence://page/")
        new_id = embedded.resource.uri.rsplit("/", 1)[1]

        updated = await call(client, "update-confluence-page", {
            "page_id": new_id, "title": "Incident Review", "content": "<p>Closed.</p>",
            "version_comment": "close it", "minor_edit": True,
        })
        assert "to version 2" in updated and "Closed." in updated

        commented = await call(client, "comment-confluence-page", {"page_id": new_id, "comment": "**Good** write-up"})
        assert "## Comments (1)" in commented and "**Good** write-up" in commented

        labelled = await call(client, "add-confluence-label", {"page_id": new_id, "label": "postmortem"})
        assert "postmortem" in labelled

        deleted = await call(client, "delete-confluence-page", {"page_id": onboarding})
        assert f"Deleted page {onboarding}" in deleted

    content = (await rest(sandbox, f"/rest/api/content/{new_id}/version", confluence=True)).json()["results"]
    assert {v["number"] for v in content} == {1, 2}
    first = (await rest(sandbox, f"/rest/api/content/{new_id}", {"expand": "body.storage,version"},
                        confluence=True)).json()
    assert first["body"]["storage"]["value"] == "<p>Closed.</p>"  # storage content sent unchanged
    assert first["version"]["message"] == "close it" and first["version"]["minorEdit"] is True
    gone = await rest(sandbox, f"/rest/api/content/{onboarding}", confluence=True)
    assert gone.status_code == 404
