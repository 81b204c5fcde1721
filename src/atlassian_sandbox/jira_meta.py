"""Jira metadata routes: myself, serverInfo, projects, users, fields, create metadata, link types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox.catalog import (
    FIELDS,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    STATUSES,
    FieldDef,
    jira_time,
)
from atlassian_sandbox.context import sandbox_of, user_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_access import (
    api_routes,
    jira_of,
    visible_issue,
    visible_project,
    visible_projects,
)
from atlassian_sandbox.requests import int_param
from atlassian_sandbox.responses import Json
from atlassian_sandbox.seed import USERS, User, by_account_id

CREATE_FIELDS = ("summary", "issuetype", "project", "description", "priority", "assignee", "reporter",
                 "labels", "components", "fixVersions", "parent", "customfield_10016")


async def myself(request: Request) -> Response:
    body = jira_of(request).user_json(user_of(request))
    body["groups"] = {"size": 1, "items": []}
    body["locale"] = "en_US"
    return Json(body)


async def server_info(request: Request) -> Response:
    box = sandbox_of(request)
    cloud = box.mode == "cloud"
    now = datetime.now(UTC)
    return Json({
        "baseUrl": box.base_url,
        "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.2",
        "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 2],
        "deploymentType": "Cloud" if cloud else "Server",
        "buildNumber": 100230 if cloud else 9120002,
        "buildDate": jira_time(box.store.now),
        "serverTime": jira_time(now),
        "scmInfo": "sandbox",
        "serverTitle": "Atlassian Sandbox Jira",
    })


async def projects(request: Request) -> Response:
    jira = jira_of(request)
    return Json([jira.project(p) for p in visible_projects(request)])


async def project_search(request: Request) -> Response:
    jira = jira_of(request)
    query = (request.query_params.get("query") or "").lower()
    found = [p for p in visible_projects(request) if query in p.key.lower() or query in p.name.lower()]
    start = int_param(request, "startAt", 0)
    limit = int_param(request, "maxResults", 50, 1, 100)
    page = found[start : start + limit]
    is_last = start + limit >= len(found)
    body: dict[str, Any] = {
        "self": str(request.url),
        "maxResults": limit,
        "startAt": start,
        "total": len(found),
        "isLast": is_last,
        "values": [jira.project(p) for p in page],
    }
    if not is_last:
        body["nextPage"] = f"{jira.rest}/project/search?startAt={start + limit}&maxResults={limit}"
    return Json(body)


async def project(request: Request) -> Response:
    return Json(jira_of(request).project(visible_project(request, request.path_params["key"]), True))


def _matches(user: User, text: str) -> bool:
    text = text.lower()
    return any(text in v.lower() for v in (user.name, user.display_name, user.email))


def _user_query(request: Request) -> str:
    """The search text: `query` on cloud, `username` on Server/DC (each refuses the other's)."""
    q = request.query_params
    if sandbox_of(request).mode == "cloud":
        if "username" in q and "query" not in q:
            raise ApiError(400, "The username query parameter was provided but it is not supported: use query.")
        if "query" not in q and "accountId" not in q:
            raise ApiError(400, "The query parameter 'query' must be provided.")
        return q.get("query", "")
    if "username" not in q:
        raise ApiError(400, "The username query parameter was not provided")
    return q["username"]


def _users_page(request: Request, users: list[User]) -> Response:
    jira = jira_of(request)
    start = int_param(request, "startAt", 0)
    limit = int_param(request, "maxResults", 50, 1, 1000)
    return Json([jira.user_json(u) for u in users[start : start + limit]])


async def user_search(request: Request) -> Response:
    text = _user_query(request)
    account = request.query_params.get("accountId")
    users = [u for u in USERS.values() if (account is None or u.account_id == account) and _matches(u, text)]
    return _users_page(request, users)


async def assignable_search(request: Request) -> Response:
    q = request.query_params
    if "issueKey" in q:
        project_key = visible_issue(request, q["issueKey"]).project
    elif "project" in q:
        project_key = visible_project(request, q["project"]).key
    else:
        raise ApiError(400, "One of 'issueKey' or 'project' must be provided.")
    text = q.get("query" if sandbox_of(request).mode == "cloud" else "username", "")
    users = [u for u in USERS.values() if u.can_write and u.sees(project_key) and _matches(u, text)]
    return _users_page(request, users)


async def get_user(request: Request) -> Response:
    q = request.query_params
    found: User | None
    if sandbox_of(request).mode == "cloud":
        found = by_account_id(q.get("accountId", ""))
    else:
        found = USERS.get(q.get("username") or q.get("key") or "")
    if found is None:
        raise ApiError(404, "The user named does not exist or you do not have permission to see it.")
    return Json(jira_of(request).user_json(found))


def field_json(f: FieldDef) -> dict[str, Any]:
    return {
        "id": f.id,
        "key": f.id,
        "name": f.name,
        "custom": f.custom,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": list(f.clause_names),
        "schema": f.schema,
    }


async def fields(request: Request) -> Response:
    return Json([field_json(f) for f in FIELDS])


def _create_field(request: Request, f: FieldDef, type_name: str) -> dict[str, Any]:
    jira = jira_of(request)
    body: dict[str, Any] = {
        "required": f.required_on_create or (f.id == "parent" and ISSUE_TYPES[type_name].subtask),
        "schema": f.schema,
        "name": f.name,
        "fieldId": f.id,
        "key": f.id,
        "hasDefaultValue": f.id == "priority",
        "operations": ["set"] if f.id not in ("labels",) else ["add", "set", "remove"],
    }
    if f.id == "priority":
        body["allowedValues"] = [jira.priority(p) for p in PRIORITIES]
    if f.id == "issuetype":
        body["allowedValues"] = [jira.issuetype(type_name)]
    return body


def _create_fields(request: Request, type_name: str) -> list[dict[str, Any]]:
    wanted = [f for f in FIELDS if f.id in CREATE_FIELDS]
    if not ISSUE_TYPES[type_name].subtask:
        wanted = [f for f in wanted if f.id != "parent"]
    return [_create_field(request, f, type_name) for f in wanted]


def _paged(request: Request, items: list[Any], key: str) -> dict[str, Any]:
    start = int_param(request, "startAt", 0)
    limit = int_param(request, "maxResults", 50, 1, 200)
    page = items[start : start + limit]
    return {"maxResults": limit, "startAt": start, "total": len(items),
            "isLast": start + limit >= len(items), key: page}


async def createmeta_issuetypes(request: Request) -> Response:
    visible_project(request, request.path_params["project"])
    jira = jira_of(request)
    types = [jira.issuetype(t) for t in ISSUE_TYPES]
    key = "issueTypes" if sandbox_of(request).mode == "cloud" else "values"
    return Json(_paged(request, types, key))


async def createmeta_fields(request: Request) -> Response:
    visible_project(request, request.path_params["project"])
    type_id = request.path_params["type_id"]
    type_name = next((t.name for t in ISSUE_TYPES.values() if t.id == type_id), None)
    if type_name is None:
        raise ApiError(404, "The issue type with id '" + type_id + "' does not exist.")
    key = "fields" if sandbox_of(request).mode == "cloud" else "values"
    return Json(_paged(request, _create_fields(request, type_name), key))


async def createmeta_legacy(request: Request) -> Response:
    """The old `/issue/createmeta?projectKeys=..&expand=projects.issuetypes.fields`."""
    jira = jira_of(request)
    q = request.query_params
    keys = {k.strip().upper() for k in q.get("projectKeys", "").split(",") if k.strip()}
    with_fields = "projects.issuetypes.fields" in q.get("expand", "")
    out = []
    for p in visible_projects(request):
        if keys and p.key not in keys:
            continue
        types = []
        for t in ISSUE_TYPES:
            entry = jira.issuetype(t)
            if with_fields:
                entry["fields"] = {f["fieldId"]: f for f in _create_fields(request, t)}
            types.append(entry)
        out.append({**jira.project(p), "issuetypes": types})
    return Json({"expand": "projects", "projects": out})


async def link_types(request: Request) -> Response:
    rest = jira_of(request).rest
    return Json({"issueLinkTypes": [
        {"id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward, "self": f"{rest}/issueLinkType/{t.id}"}
        for t in LINK_TYPES.values()
    ]})


async def priorities(request: Request) -> Response:
    jira = jira_of(request)
    return Json([jira.priority(p) for p in PRIORITIES])


async def issue_types(request: Request) -> Response:
    jira = jira_of(request)
    return Json([jira.issuetype(t) for t in ISSUE_TYPES])


async def statuses(request: Request) -> Response:
    jira = jira_of(request)
    return Json([jira.status(s) for s in STATUSES])


async def project_versions(request: Request) -> Response:
    project = visible_project(request, request.path_params["key"])
    jira = jira_of(request)
    return Json([jira.version(project, v) for v in project.versions])


def routes() -> list[Route]:
    table: list[tuple[str, Any]] = [
        ("/myself", myself),
        ("/serverInfo", server_info),
        ("/project", projects),
        ("/project/search", project_search),
        ("/project/{key}", project),
        ("/project/{key}/versions", project_versions),
        ("/user", get_user),
        ("/user/search", user_search),
        ("/user/assignable/search", assignable_search),
        ("/field", fields),
        ("/issue/createmeta", createmeta_legacy),
        ("/issue/createmeta/{project}/issuetypes", createmeta_issuetypes),
        ("/issue/createmeta/{project}/issuetypes/{type_id}", createmeta_fields),
        ("/issueLinkType", link_types),
        ("/priority", priorities),
        ("/issuetype", issue_types),
        ("/status", statuses),
    ]
    return api_routes([(path, fn, ["GET"]) for path, fn in table])
