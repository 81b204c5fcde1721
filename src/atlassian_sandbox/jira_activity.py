"""Jira routes around an issue: comments, transitions, assignee, remote links, worklogs, issue links."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox.catalog import LINK_TYPES, STATUSES, TRANSITION_IDS
from atlassian_sandbox.context import sandbox_of, user_of, writer_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_access import api_routes, jira_of, visible_issue
from atlassian_sandbox.jira_edit import (
    append_comment,
    apply_body,
    editing,
    now,
    record,
    set_field,
    text_value,
)
from atlassian_sandbox.requests import int_param, json_object
from atlassian_sandbox.responses import Json
from atlassian_sandbox.store import ChangeItem, Issue, IssueLink, RemoteLink, Worklog

NO_CONTENT = 204


async def list_comments(request: Request) -> Response:
    issue = visible_issue(request, request.path_params["key"])
    jira = jira_of(request)
    start = int_param(request, "startAt", 0)
    limit = int_param(request, "maxResults", 50, 1, 5000)
    everything = [jira.comment(issue, c) for c in issue.comments]
    page = everything[start : start + limit]
    return Json({"startAt": start, "maxResults": limit, "total": len(everything), "comments": page})


async def add_comment(request: Request) -> Response:
    body = await json_object(request)
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "comment on this issue")
    comment = append_comment(request, issue, body.get("body"))
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
    body = await json_object(request)
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "transition this issue")
    transition = body.get("transition")
    tid = str(transition.get("id")) if isinstance(transition, dict) and "id" in transition else None
    target = next((name for name, t in TRANSITION_IDS.items() if t == tid), None)
    if tid is None:
        raise ApiError(400, "Missing 'transition' identifier")
    if target is None or target == issue.status:
        raise ApiError(400, f"Transition id '{tid}' is not valid for this issue.")
    changes = [ChangeItem("status", issue.status, target)]
    with editing(request, issue) as draft:
        apply_body(request, draft, body, changes, skip=("resolution",))
        draft.status = target
        done = STATUSES[target].category_key == "done"
        draft.resolutiondate = (draft.resolutiondate or now()) if done else None
        record(request, draft, changes)
    return Response(status_code=NO_CONTENT)


async def set_assignee(request: Request) -> Response:
    body = await json_object(request)
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "assign this issue")
    changes: list[ChangeItem] = []
    with editing(request, issue) as draft:
        set_field(request, draft, "assignee", body, changes)
        record(request, draft, changes)
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
    body = await json_object(request)
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "link this issue")
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
    body = await json_object(request)
    issue = visible_issue(request, request.path_params["key"])
    writer_of(request, "log work on this issue")
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
        append_comment(request, ends[1], body["comment"].get("body"))
    return Response(status_code=201)


def routes() -> list[Route]:
    return api_routes([
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
    ])
