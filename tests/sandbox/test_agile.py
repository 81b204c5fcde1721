"""Jira Agile: boards by project, sprints by state, and the issues of a sprint or a board."""

from __future__ import annotations

from atlassian_sandbox.seed import VIEWER
from tests.conftest import SandboxServer
from tests.sandbox.clients import jira


def test_boards_by_project(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        demo = c.get("/rest/agile/1.0/board", params={"projectKeyOrId": "DEMO"}).json()
        every = c.get("/rest/agile/1.0/board").json()
    with jira(sandbox, VIEWER) as c:
        seen = c.get("/rest/agile/1.0/board").json()
    [board] = demo["values"]
    assert board["type"] == "scrum" and board["location"]["projectKey"] == "DEMO"
    assert every["total"] == 3 and seen["total"] == 2


def test_sprints_by_state(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        every = c.get("/rest/agile/1.0/board/1/sprint").json()["values"]
        active = c.get("/rest/agile/1.0/board/1/sprint", params={"state": "active"}).json()["values"]
        later = c.get("/rest/agile/1.0/board/1/sprint", params={"state": "active,future"}).json()["values"]
        kanban = c.get("/rest/agile/1.0/board/2/sprint")
        bad_state = c.get("/rest/agile/1.0/board/1/sprint", params={"state": "sleeping"})
        missing = c.get("/rest/agile/1.0/board/99/sprint")
    assert [s["state"] for s in every] == ["closed", "active", "future"]
    assert [s["name"] for s in active] == ["DEMO Sprint 2"] and active[0]["startDate"] and active[0]["endDate"]
    assert len(later) == 2
    assert kanban.status_code == 400 and kanban.json()["errorMessages"] == ["The board does not support sprints"]
    assert bad_state.status_code == 400 and missing.status_code == 404


def test_sprint_and_board_issues(sandbox: SandboxServer) -> None:
    sandbox.reset()
    with jira(sandbox) as c:
        sprint = c.get("/rest/agile/1.0/sprint/2/issue").json()
        done = c.get("/rest/agile/1.0/sprint/2/issue", params={"jql": "status = Done"}).json()
        board = c.get("/rest/agile/1.0/board/2/issue", params={"maxResults": 5}).json()
        fields = c.get("/rest/agile/1.0/sprint/2/issue", params={"fields": "summary,customfield_10016"}).json()
    assert sprint["total"] == 9 and all(i["fields"]["sprint"]["id"] == 2 for i in sprint["issues"])
    assert [i["key"] for i in done["issues"]] == ["DEMO-10"]
    assert board["total"] == 15 and len(board["issues"]) == 5
    assert set(fields["issues"][0]["fields"]) == {"summary", "customfield_10016"}


def test_single_board_and_sprint_respect_visibility(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        board = c.get("/rest/agile/1.0/board/3").json()
        sprint = c.get("/rest/agile/1.0/sprint/1").json()
        missing = c.get("/rest/agile/1.0/sprint/42")
    with jira(sandbox, VIEWER) as c:
        hidden = c.get("/rest/agile/1.0/board/3")
    assert board["name"] == "SEC board" and board["type"] == "kanban"
    assert sprint["state"] == "closed" and sprint["completeDate"]
    assert missing.status_code == 404 and hidden.status_code == 404
