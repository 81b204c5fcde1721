"""Jira issue routes: read, create, edit and delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox.catalog import ISSUE_TYPES
from atlassian_sandbox.context import sandbox_of, user_of, writer_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_access import api_routes, jira_of, visible_issue
from atlassian_sandbox.jira_edit import apply_body, editing, named, now, record
from atlassian_sandbox.requests import json_object
from atlassian_sandbox.responses import Json
from atlassian_sandbox.store import ChangeItem, Issue, Project

NO_CONTENT = 204


async def get_issue(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    q = request.query_params
    return Json(jira_of(request).issue(issue, q.get("fields"), q.get("expand")))


async def edit_issue(request: Request) -> Response:
    body = await json_object(request)
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "edit this issue")
    changes: list[ChangeItem] = []
    with editing(request, issue) as draft:
        apply_body(request, draft, body, changes)
        record(request, draft, changes)
    return Response(status_code=NO_CONTENT)


async def delete_issue(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "delete this issue")
    store = sandbox_of(request).store
    subtasks = store.subtasks_of(issue.key)
    if subtasks and request.query_params.get("deleteSubtasks") != "true":
        raise ApiError(400, "The issue has subtasks, so deleteSubtasks must be set to true.")
    for gone in [*subtasks, issue]:
        del store.issues[gone.key]
    store.links = [link for link in store.links if issue.key not in (link.inward, link.outward)]
    return Response(status_code=NO_CONTENT)


def _create_target(request: Request, fields: dict[str, Any]) -> tuple[Project, str]:
    """The project and issue type of a create request; 400 with every missing or bad field at once."""
    errors: dict[str, str] = {}
    project_ref = fields.get("project")
    ref = project_ref.get("key") or project_ref.get("id") if isinstance(project_ref, dict) else None
    project = sandbox_of(request).store.project_by_id_or_key(str(ref)) if ref else None
    if project is None or not user_of(request).sees(project.key):
        errors["project"] = "project is required" if ref is None else f"Project '{ref}' does not exist."
    if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
        errors["summary"] = "You must specify a summary of the issue."
    type_name: str | None = None
    if fields.get("issuetype") is None:
        errors["issuetype"] = "issue type is required"
    else:
        try:
            type_name = named(fields["issuetype"], {t.name: t.id for t in ISSUE_TYPES.values()}, "issuetype",
                              "issue type")
        except ApiError:
            errors["issuetype"] = "The issue type selected is invalid."
    if type_name == "Sub-task" and "parent" not in fields:
        errors["parent"] = "Sub-task issues must have a parent."
    if errors or project is None or type_name is None:
        raise ApiError(400, errors=errors)
    return project, type_name


async def create_issue(request: Request) -> Response:
    writer_of(request, "create issues in this project")
    body = await json_object(request)
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise ApiError(400, "The 'fields' value must be an object.")
    project, type_name = _create_target(request, fields)
    store = sandbox_of(request).store
    moment = now()
    issue = Issue(
        id=store.new_id(),
        key=f"{project.key}-{project.issue_counter + 1}",
        project=project.key,
        summary=fields["summary"],
        issuetype=type_name,
        status="To Do",
        created=moment,
        updated=moment,
        priority="Medium",
        reporter=user_of(request).name,
    )
    apply_body(request, issue, body, [], skip=("project", "summary", "issuetype"))
    project.issue_counter += 1
    store.issues[issue.key] = issue
    rest_url = jira_of(request).rest
    return Json({"id": str(issue.id), "key": issue.key, "self": f"{rest_url}/issue/{issue.id}"}, status_code=201)


def routes() -> list[Route]:
    return api_routes([
        ("/issue", create_issue, ["POST"]),
        ("/issue/{key}", get_issue, ["GET"]),
        ("/issue/{key}", edit_issue, ["PUT"]),
        ("/issue/{key}", delete_issue, ["DELETE"]),
    ])
