"""Jira Software (Agile) routes: boards, sprints, and the issues on a board or in a sprint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox import jql
from atlassian_sandbox.context import sandbox_of, user_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_access import jira_of, visible_project
from atlassian_sandbox.requests import int_param
from atlassian_sandbox.responses import Json
from atlassian_sandbox.store import Board, Issue, Sprint

AGILE = "/rest/agile/1.0"
SPRINT_STATES = {"active", "closed", "future"}


def paged(request: Request, items: list[Any], default: int = 50) -> dict[str, Any]:
    start = int_param(request, "startAt", 0)
    limit = int_param(request, "maxResults", default, 1, 100)
    page = items[start : start + limit]
    return {"maxResults": limit, "startAt": start, "total": len(items), "isLast": start + limit >= len(items),
            "values": page}


def board_json(request: Request, board: Board) -> dict[str, Any]:
    jira = jira_of(request)
    project = jira.store.projects[board.project]
    return {
        "id": board.id,
        "self": f"{jira.base}{AGILE}/board/{board.id}",
        "name": board.name,
        "type": board.type,
        "location": {"projectId": int(project.id), "projectKey": project.key, "projectName": project.name,
                     "displayName": f"{project.name} ({project.key})", "projectTypeKey": "software",
                     "name": f"{project.name} ({project.key})"},
    }


def visible_board(request: Request) -> Board:
    raw = request.path_params["board_id"]
    board = sandbox_of(request).store.boards.get(int(raw)) if raw.isdigit() else None
    if board is None or not user_of(request).sees(board.project):
        raise ApiError(404, "Board does not exist or you do not have permission to see it.")
    return board


async def boards(request: Request) -> Response:
    q = request.query_params
    found = [b for b in sandbox_of(request).store.boards.values() if user_of(request).sees(b.project)]
    if "projectKeyOrId" in q:
        project = visible_project(request, q["projectKeyOrId"])
        found = [b for b in found if b.project == project.key]
    if "type" in q:
        found = [b for b in found if b.type in q["type"].split(",")]
    if "name" in q:
        found = [b for b in found if q["name"].lower() in b.name.lower()]
    return Json(paged(request, [board_json(request, b) for b in found]))


async def board(request: Request) -> Response:
    return Json(board_json(request, visible_board(request)))


async def board_sprints(request: Request) -> Response:
    found_board = visible_board(request)
    if found_board.type != "scrum":
        raise ApiError(400, "The board does not support sprints")
    states = {s.strip().lower() for s in request.query_params.get("state", "").split(",") if s.strip()}
    if states - SPRINT_STATES:
        raise ApiError(400, f"The sprint state '{sorted(states - SPRINT_STATES)[0]}' is not valid.")
    jira = jira_of(request)
    sprints = [s for s in jira.store.sprints_of(found_board.id) if not states or s.state in states]
    body = paged(request, [jira.sprint(s) for s in sprints])
    del body["total"]  # Jira Software omits the total for sprints
    return Json(body)


def _issues_page(request: Request, issues: list[Issue]) -> Response:
    q = request.query_params
    if q.get("jql"):
        matching = {i.key for i in jql.search(sandbox_of(request).store, q["jql"], user_of(request),
                                              datetime.now(UTC))}
        issues = [i for i in issues if i.key in matching]
    start = int_param(request, "startAt", 0)
    limit = int_param(request, "maxResults", 50, 1, 100)
    jira = jira_of(request)
    rendered = []
    for issue in issues[start : start + limit]:
        body = jira.issue(issue, q.get("fields"), q.get("expand"), default="*navigable")
        if "fields" in body and q.get("fields") is None:
            active = [jira.store.sprints[s] for s in issue.sprint_ids if s in jira.store.sprints]
            body["fields"]["sprint"] = next((jira.sprint(s) for s in active if s.state == "active"), None)
        rendered.append(body)
    return Json({"expand": "schema,names", "startAt": start, "maxResults": limit, "total": len(issues),
                         "issues": rendered})


def _by_rank(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: (i.project, int(i.key.rsplit("-", 1)[1])))


def visible_sprint(request: Request) -> Sprint:
    raw = request.path_params["sprint_id"]
    store = sandbox_of(request).store
    found = store.sprints.get(int(raw)) if raw.isdigit() else None
    if found is None or not user_of(request).sees(store.boards[found.board_id].project):
        raise ApiError(404, f"Sprint with id {raw} does not exist or you do not have permission to see it.")
    return found


async def sprint(request: Request) -> Response:
    return Json(jira_of(request).sprint(visible_sprint(request)))


async def sprint_issues(request: Request) -> Response:
    found = visible_sprint(request)
    store = sandbox_of(request).store
    return _issues_page(request, _by_rank([i for i in store.issues.values() if found.id in i.sprint_ids]))


async def board_issues(request: Request) -> Response:
    found_board = visible_board(request)
    store = sandbox_of(request).store
    return _issues_page(request, _by_rank([i for i in store.issues.values() if i.project == found_board.project]))


def routes() -> list[Route]:
    return [
        Route(f"{AGILE}/board", boards, methods=["GET"]),
        Route(f"{AGILE}/board/{{board_id}}", board, methods=["GET"]),
        Route(f"{AGILE}/board/{{board_id}}/sprint", board_sprints, methods=["GET"]),
        Route(f"{AGILE}/board/{{board_id}}/issue", board_issues, methods=["GET"]),
        Route(f"{AGILE}/sprint/{{sprint_id}}", sprint, methods=["GET"]),
        Route(f"{AGILE}/sprint/{{sprint_id}}/issue", sprint_issues, methods=["GET"]),
    ]
