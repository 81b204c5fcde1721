"""Jira issue routes: read, create, edit, delete, comments, transitions, assignee, links, worklogs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox import adf
from atlassian_sandbox.catalog import (
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    STATUSES,
    STORY_POINTS_FIELD,
    TRANSITION_IDS,
)
from atlassian_sandbox.context import sandbox_of, user_of, writer_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_access import jira_of, user_ref, visible_issue, visible_project
from atlassian_sandbox.requests import int_param, json_object
from atlassian_sandbox.responses import Json
from atlassian_sandbox.store import Change, ChangeItem, Comment, Issue, IssueLink, RemoteLink, Worklog

NO_CONTENT = 204


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def text_value(request: Request, value: Any, field: str) -> str | None:
    """A rich-text input: a string on v2, an ADF document on v3."""
    if jira_of(request).api == "3":
        try:
            return adf.to_text(value)
        except ValueError as exc:
            raise ApiError(400, errors={field: str(exc)}) from exc
    if value is not None and not isinstance(value, str):
        raise ApiError(400, errors={field: "Operation value must be a string"})
    return value


def named(value: Any, table: dict[str, str], field: str, label: str) -> str:
    """A `{"name": ..}` or `{"id": ..}` reference into a name -> id table."""
    if isinstance(value, dict):
        if value.get("name") in table:
            return str(value["name"])
        by_id = {v: k for k, v in table.items()}
        if str(value.get("id")) in by_id:
            return by_id[str(value["id"])]
    raise ApiError(400, errors={field: f"The {label} selected is invalid."})


async def get_issue(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    q = request.query_params
    return Json(jira_of(request).issue(issue, q.get("fields"), q.get("expand")))


def _set_field(request: Request, issue: Issue, name: str, value: Any, changes: list[ChangeItem]) -> None:
    before: Any
    after: Any
    if name == "summary":
        if not isinstance(value, str) or not value.strip():
            raise ApiError(400, errors={"summary": "You must specify a summary of the issue."})
        before, issue.summary = issue.summary, value
        after = value
    elif name == "description":
        before, issue.description = issue.description, text_value(request, value, "description")
        after = issue.description
    elif name == "priority":
        before = issue.priority
        issue.priority = None if value is None else named(value, PRIORITIES, "priority", "priority")
        after = issue.priority
    elif name in ("assignee", "reporter"):
        before = getattr(issue, name)
        after = user_ref(request, value, name)
        setattr(issue, name, after)
    elif name == "labels":
        if not isinstance(value, list) or not all(isinstance(v, str) and " " not in v for v in value):
            raise ApiError(400, errors={"labels": "Labels must be a list of strings without spaces."})
        before, issue.labels = " ".join(issue.labels), list(value)
        after = " ".join(value)
    elif name in ("components", "fixVersions"):
        project = sandbox_of(request).store.projects[issue.project]
        known = project.components if name == "components" else [v.name for v in project.versions]
        if not isinstance(value, list):
            raise ApiError(400, errors={name: "Expected a list."})
        names = [v.get("name") for v in value if isinstance(v, dict)]
        unknown = [n for n in names if n not in known]
        if unknown or len(names) != len(value):
            raise ApiError(400, errors={name: f"Value '{unknown[0] if unknown else value}' is not valid."})
        attr = "components" if name == "components" else "fix_versions"
        before = ", ".join(getattr(issue, attr))
        setattr(issue, attr, [str(n) for n in names])
        after = ", ".join(str(n) for n in names)
    elif name == STORY_POINTS_FIELD:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ApiError(400, errors={name: "Operation value must be a number"})
        before, issue.story_points = issue.story_points, None if value is None else float(value)
        after = value
    elif name == "parent":
        ref = value.get("key") or value.get("id") if isinstance(value, dict) else None
        parent = sandbox_of(request).store.issue_by_id_or_key(str(ref)) if ref else None
        if parent is None or parent.project != issue.project:
            raise ApiError(400, errors={"parent": "Could not find the parent issue."})
        before, issue.parent = issue.parent, parent.key
        after = parent.key
    else:
        raise ApiError(
            400, errors={name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."}
        )
    if before != after:
        changes.append(ChangeItem(name, None if before is None else str(before),
                                  None if after is None else str(after)))


def _apply_update_ops(request: Request, issue: Issue, update: Any, changes: list[ChangeItem]) -> None:
    """The `update` form: {"labels": [{"add": "x"}, {"remove": "y"}], "comment": [{"add": {"body": ..}}]}."""
    if not isinstance(update, dict):
        raise ApiError(400, "The 'update' value must be an object.")
    for name, ops in update.items():
        if not isinstance(ops, list):
            raise ApiError(400, errors={name: "Operations must be a list."})
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1:
                raise ApiError(400, errors={name: "Each operation must have exactly one verb."})
            verb, arg = next(iter(op.items()))
            if name == "comment" and verb == "add":
                _add_comment(request, issue, arg.get("body") if isinstance(arg, dict) else None)
            elif name == "labels" and verb in ("add", "remove", "set"):
                labels = list(issue.labels)
                if verb == "add" and arg not in labels:
                    labels.append(arg)
                elif verb == "remove":
                    labels = [label for label in labels if label != arg]
                _set_field(request, issue, "labels", arg if verb == "set" else labels, changes)
            elif verb == "set":
                _set_field(request, issue, name, arg, changes)
            else:
                raise ApiError(400, errors={name: f"Operation '{verb}' is not supported for this field."})


def _record(request: Request, issue: Issue, changes: list[ChangeItem]) -> None:
    moment = now()
    issue.updated = moment
    if changes:
        change_id = str(sandbox_of(request).store.new_id())
        issue.changelog.append(Change(change_id, user_of(request).name, moment, changes))


async def edit_issue(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "edit this issue")
    body = await json_object(request)
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise ApiError(400, "The 'fields' value must be an object.")
    changes: list[ChangeItem] = []
    for name, value in fields.items():
        _set_field(request, issue, name, value, changes)
    if "update" in body:
        _apply_update_ops(request, issue, body["update"], changes)
    _record(request, issue, changes)
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


async def create_issue(request: Request) -> Response:
    writer_of(request, "create issues in this project")
    body = await json_object(request)
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise ApiError(400, "The 'fields' value must be an object.")
    errors: dict[str, str] = {}
    project_ref = fields.get("project")
    ref = project_ref.get("key") or project_ref.get("id") if isinstance(project_ref, dict) else None
    project = sandbox_of(request).store.project_by_id_or_key(str(ref)) if ref else None
    if project is None or not user_of(request).sees(project.key):
        errors["project"] = "project is required" if ref is None else f"Project '{ref}' does not exist."
    if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
        errors["summary"] = "You must specify a summary of the issue."
    issuetype = fields.get("issuetype")
    type_name: str | None = None
    if issuetype is None:
        errors["issuetype"] = "issue type is required"
    else:
        try:
            type_name = named(issuetype, {t.name: t.id for t in ISSUE_TYPES.values()}, "issuetype", "issue type")
        except ApiError:
            errors["issuetype"] = "The issue type selected is invalid."
    if type_name == "Sub-task" and "parent" not in fields:
        errors["parent"] = "Sub-task issues must have a parent."
    if errors or project is None or type_name is None:
        raise ApiError(400, errors=errors)
    store = sandbox_of(request).store
    project.issue_counter += 1
    moment = now()
    issue = Issue(
        id=store.new_id(),
        key=f"{project.key}-{project.issue_counter}",
        project=project.key,
        summary=fields["summary"],
        issuetype=type_name,
        status="To Do",
        created=moment,
        updated=moment,
        priority="Medium",
        reporter=user_of(request).name,
    )
    rest = {k: v for k, v in fields.items() if k not in ("project", "summary", "issuetype")}
    ignored: list[ChangeItem] = []
    store.issues[issue.key] = issue
    try:
        for name, value in rest.items():
            _set_field(request, issue, name, value, ignored)
        if "update" in body:
            _apply_update_ops(request, issue, body["update"], ignored)
    except ApiError:
        del store.issues[issue.key]
        project.issue_counter -= 1
        raise
    rest_url = jira_of(request).rest
    return Json({"id": str(issue.id), "key": issue.key, "self": f"{rest_url}/issue/{issue.id}"},
                        status_code=201)


def _add_comment(request: Request, issue: Issue, raw: Any) -> Comment:
    body = text_value(request, raw, "comment")
    if not body or not body.strip():
        raise ApiError(400, errors={"comment": "Comment body can not be empty!"})
    moment = now()
    comment = Comment(str(sandbox_of(request).store.new_id()), user_of(request).name, body, moment, moment)
    issue.comments.append(comment)
    issue.updated = moment
    return comment


async def list_comments(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    jira = jira_of(request)
    start = int_param(request, "startAt", 0)
    limit = int_param(request, "maxResults", 50, 1, 5000)
    everything = [jira.comment(issue, c) for c in issue.comments]
    page = everything[start : start + limit]
    return Json({"startAt": start, "maxResults": limit, "total": len(everything), "comments": page})


async def add_comment(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "comment on this issue")
    body = await json_object(request)
    comment = _add_comment(request, issue, body.get("body"))
    return Json(jira_of(request).comment(issue, comment), status_code=201)


async def list_transitions(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    jira = jira_of(request)
    transitions = [
        {
            "id": tid,
            "name": target,
            "to": jira.status(target),
            "hasScreen": False,
            "isGlobal": True,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        for target, tid in TRANSITION_IDS.items()
        if target != issue.status
    ]
    return Json({"expand": "transitions", "transitions": transitions})


async def do_transition(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "transition this issue")
    body = await json_object(request)
    transition = body.get("transition")
    tid = str(transition.get("id")) if isinstance(transition, dict) and "id" in transition else None
    target = next((name for name, t in TRANSITION_IDS.items() if t == tid), None)
    if tid is None:
        raise ApiError(400, "Missing 'transition' identifier")
    if target is None or target == issue.status:
        raise ApiError(400, f"Transition id '{tid}' is not valid for this issue.")
    changes = [ChangeItem("status", issue.status, target)]
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise ApiError(400, "The 'fields' value must be an object.")
    for name, value in fields.items():
        if name != "resolution":
            _set_field(request, issue, name, value, changes)
    if "update" in body:
        _apply_update_ops(request, issue, body["update"], changes)
    issue.status = target
    done = STATUSES[target].category_key == "done"
    issue.resolutiondate = (issue.resolutiondate or now()) if done else None
    _record(request, issue, changes)
    return Response(status_code=NO_CONTENT)


async def set_assignee(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "assign this issue")
    body = await json_object(request)
    changes: list[ChangeItem] = []
    _set_field(request, issue, "assignee", body, changes)
    _record(request, issue, changes)
    return Response(status_code=NO_CONTENT)


def remote_link_json(request: Request, issue: Issue, link: RemoteLink) -> dict[str, Any]:
    obj: dict[str, Any] = {"url": link.url, "title": link.title, "icon": {}, "status": {"resolved": False}}
    if link.summary:
        obj["summary"] = link.summary
    body: dict[str, Any] = {
        "id": link.id,
        "self": f"{jira_of(request).rest}/issue/{issue.key}/remotelink/{link.id}",
        "application": link.application,
        "object": obj,
    }
    if link.global_id:
        body["globalId"] = link.global_id
    if link.relationship:
        body["relationship"] = link.relationship
    return body


async def list_remote_links(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    return Json([remote_link_json(request, issue, link) for link in issue.remote_links])


async def add_remote_link(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "link this issue")
    body = await json_object(request)
    obj = body.get("object")
    if not isinstance(obj, dict) or not obj.get("url") or not obj.get("title"):
        raise ApiError(400, errors={"object": "The remote link needs an object with a url and a title."})
    link = RemoteLink(
        id=sandbox_of(request).store.new_id(),
        url=str(obj["url"]),
        title=str(obj["title"]),
        relationship=body.get("relationship"),
        global_id=body.get("globalId"),
        summary=obj.get("summary"),
        application=body.get("application") or {},
    )
    issue.remote_links.append(link)
    self_url = f"{jira_of(request).rest}/issue/{issue.key}/remotelink/{link.id}"
    return Json({"id": link.id, "self": self_url}, status_code=201)


DURATION = re.compile(r"^\s*(?:(\d+)w)?\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*$")


def parse_duration(text: str) -> int:
    """Jira's `1w 2d 3h 30m` (a day is 8 hours, a week 5 days) in seconds; 0 if it does not parse."""
    match = DURATION.match(text)
    if not match or not any(match.groups()):
        return 0
    w, d, h, m = (int(g) if g else 0 for g in match.groups())
    return (((w * 5 + d) * 8 + h) * 60 + m) * 60


async def list_worklogs(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    return Json(jira_of(request).worklogs_page(issue))


async def add_worklog(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "log work on this issue")
    body = await json_object(request)
    seconds = body.get("timeSpentSeconds")
    if not isinstance(seconds, int):
        seconds = parse_duration(str(body.get("timeSpent", "")))
    if seconds <= 0:
        raise ApiError(400, errors={"timeLogged": "You must indicate the time spent working."})
    started = now()
    if body.get("started"):
        try:
            started = datetime.strptime(str(body["started"]), "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError as exc:
            raise ApiError(400, errors={"started": "Invalid date format."}) from exc
    log = Worklog(
        id=str(sandbox_of(request).store.new_id()),
        author=user_of(request).name,
        comment=text_value(request, body.get("comment"), "comment") or "",
        started=started,
        seconds=seconds,
        created=now(),
    )
    issue.worklogs.append(log)
    return Json(jira_of(request).worklog(issue, log), status_code=201)


async def link_issues(request: Request) -> Response:
    writer_of(request, "link issues")
    body = await json_object(request)
    link_type = body.get("type")
    type_name = None
    if isinstance(link_type, dict):
        type_name = next((t.name for t in LINK_TYPES.values()
                          if link_type.get("name") == t.name or str(link_type.get("id")) == t.id), None)
    if type_name is None:
        raise ApiError(404, "No issue link type with name or id provided.")
    ends = []
    for side in ("inwardIssue", "outwardIssue"):
        ref = body.get(side)
        key = ref.get("key") or ref.get("id") if isinstance(ref, dict) else None
        if not key:
            raise ApiError(400, errors={side: f"The {side} is required."})
        ends.append(visible_issue(request, str(key)))
    store = sandbox_of(request).store
    store.links.append(IssueLink(str(store.new_id()), type_name, ends[0].key, ends[1].key))
    if isinstance(body.get("comment"), dict):
        _add_comment(request, ends[1], body["comment"].get("body"))
    return Response(status_code=201)


async def project_versions(request: Request) -> Response:
    project = visible_project(request, request.path_params["key"])
    jira = jira_of(request)
    return Json([jira.version(project, v) for v in project.versions])


def routes() -> list[Route]:
    table: list[tuple[str, Any, list[str]]] = [
        ("/issue", create_issue, ["POST"]),
        ("/issue/{key}", get_issue, ["GET"]),
        ("/issue/{key}", edit_issue, ["PUT"]),
        ("/issue/{key}", delete_issue, ["DELETE"]),
        ("/issue/{key}/comment", list_comments, ["GET"]),
        ("/issue/{key}/comment", add_comment, ["POST"]),
        ("/issue/{key}/transitions", list_transitions, ["GET"]),
        ("/issue/{key}/transitions", do_transition, ["POST"]),
        ("/issue/{key}/assignee", set_assignee, ["PUT"]),
        ("/issue/{key}/remotelink", list_remote_links, ["GET"]),
        ("/issue/{key}/remotelink", add_remote_link, ["POST"]),
        ("/issue/{key}/worklog", list_worklogs, ["GET"]),
        ("/issue/{key}/worklog", add_worklog, ["POST"]),
        ("/issueLink", link_issues, ["POST"]),
        ("/project/{key}/versions", project_versions, ["GET"]),
    ]
    return [Route(f"/rest/api/{api}{path}", fn, methods=methods) for api in ("2", "3")
            for path, fn, methods in table]



