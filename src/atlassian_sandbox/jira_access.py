"""Shared lookups for the Jira handlers: the renderer for a request, visible issues and projects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox.context import base_url, sandbox_of, user_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_render import Jira
from atlassian_sandbox.seed import USERS, User, by_account_id
from atlassian_sandbox.store import Issue, Project

Endpoint = Callable[[Request], Awaitable[Response]]


def api_routes(table: list[tuple[str, Endpoint, list[str]]]) -> list[Route]:
    """The same routes under REST v2, `latest` (= v2) and v3 (v3 differs only in rich-text values)."""
    return [
        Route(f"/rest/api/{api}{path}", fn, methods=methods)
        for api in ("2", "latest", "3")
        for path, fn, methods in table
    ]


def jira_of(request: Request) -> Jira:
    parts = request.url.path.split("/")
    api = "3" if len(parts) > 3 and parts[1:4] == ["rest", "api", "3"] else "2"
    box = sandbox_of(request)
    return Jira(store=box.store, mode=box.mode, base=base_url(request), api=api)


def visible_issue(request: Request, ref: str) -> Issue:
    """The issue by key or id if the caller may see it; 404 like Jira otherwise.

    Handlers that read a body do so first and look the issue up after their last await, so what they
    change is the issue as stored (an edit elsewhere may have replaced it meanwhile).
    """
    issue = sandbox_of(request).store.issue_by_id_or_key(ref)
    if issue is None or not user_of(request).sees(issue.project):
        raise ApiError(404, "Issue does not exist or you do not have permission to see it.")
    return issue


def visible_project(request: Request, ref: str) -> Project:
    project = sandbox_of(request).store.project_by_id_or_key(ref)
    if project is None or not user_of(request).sees(project.key):
        raise ApiError(404, f"No project could be found with key '{ref}'.")
    return project


def visible_projects(request: Request) -> list[Project]:
    user = user_of(request)
    return [p for p in sandbox_of(request).store.projects.values() if user.sees(p.key)]


def user_ref(request: Request, value: object, field: str) -> str | None:
    """The user name a `{"accountId": ..}` (cloud) or `{"name": ..}` (dc) value points at; 400 if unknown.

    A JSON null (or `{"accountId": null}`) means nobody.
    """
    mode = sandbox_of(request).mode
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, errors={field: "User value must be an object."})
    key = "accountId" if mode == "cloud" else "name"
    if key not in value:
        other = "name" if mode == "cloud" else "accountId"
        if other in value:
            raise ApiError(400, errors={field: f"'{other}' is not supported here: specify the user by '{key}'."})
        raise ApiError(400, errors={field: f"Specify the user by '{key}'."})
    ref = value[key]
    if ref is None or (ref == "-1" and mode == "dc"):
        return None
    user: User | None = by_account_id(str(ref)) if mode == "cloud" else USERS.get(str(ref))
    if user is None:
        raise ApiError(400, errors={field: f"User '{ref}' does not exist."})
    return user.name
