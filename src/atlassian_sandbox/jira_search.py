"""Jira issue search: `/search` (Server/DC, startAt/total; 410 Gone on Cloud) and `/search/jql` (Cloud)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox import jql
from atlassian_sandbox.context import sandbox_of, user_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_access import api_routes, jira_of
from atlassian_sandbox.query import QueryError, parse
from atlassian_sandbox.requests import json_object
from atlassian_sandbox.responses import Json
from atlassian_sandbox.store import Issue

GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


async def search_params(request: Request) -> dict[str, Any]:
    """GET query parameters or the POST body, as one dict (lists stay lists)."""
    if request.method == "POST":
        return await json_object(request)
    q = request.query_params
    params: dict[str, Any] = dict(q)
    if "fields" in q:
        params["fields"] = ",".join(q.getlist("fields"))
    return params


def as_csv(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def as_int(params: dict[str, Any], name: str, default: int, high: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"The '{name}' parameter must be an integer, not '{raw}'.") from exc
    return max(0, min(high, value))


def run(request: Request, text: str) -> list[Issue]:
    return jql.search(sandbox_of(request).store, text, user_of(request), datetime.now(UTC))


def render(request: Request, issues: list[Issue], params: dict[str, Any], default_fields: str) -> list[Any]:
    jira = jira_of(request)
    fields, expand = as_csv(params.get("fields")), as_csv(params.get("expand"))
    return [jira.issue(i, fields, expand, default=default_fields) for i in issues]


async def legacy_search(request: Request) -> Response:
    """`/rest/api/2/search`: Cloud removed it (410); Server/DC pages with startAt and reports total."""
    if sandbox_of(request).mode == "cloud":
        raise ApiError(410, GONE)
    params = await search_params(request)
    found = run(request, str(params.get("jql") or ""))
    start = as_int(params, "startAt", 0, 1_000_000)
    limit = as_int(params, "maxResults", 50, 1000)
    page = found[start : start + limit]
    return Json({
        "expand": "schema,names",
        "startAt": start,
        "maxResults": limit,
        "total": len(found),
        "issues": render(request, page, params, "*navigable"),
    })


def _token(text: str, offset: int) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")


def _offset(token: str, text: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset, digest = raw.split(":", 1)
        if digest != hashlib.sha256(text.encode()).hexdigest()[:12]:
            raise ValueError("the token belongs to another query")
        return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "The provided next page token is invalid or expired.") from exc


async def enhanced_search(request: Request) -> Response:
    """`/search/jql` (Cloud): token paging with `nextPageToken`/`isLast`, no total; only ids by default."""
    if sandbox_of(request).mode != "cloud":
        raise ApiError(404, "null for uri: " + str(request.url))
    params = await search_params(request)
    text = str(params.get("jql") or "")
    try:
        bounded = parse(text).where is not None
    except QueryError:
        bounded = True  # the search reports the syntax error itself
    if not bounded:
        raise ApiError(400, UNBOUNDED)
    found = run(request, text)
    token = params.get("nextPageToken")
    start = _offset(str(token), text) if token else 0
    limit = max(1, as_int(params, "maxResults", 50, 5000))
    page = found[start : start + limit]
    is_last = start + limit >= len(found)
    body: dict[str, Any] = {"issues": render(request, page, params, "id"), "isLast": is_last}
    if not is_last:
        body["nextPageToken"] = _token(text, start + limit)
    return Json(body)


def routes() -> list[Route]:
    return api_routes([
        ("/search", legacy_search, ["GET", "POST"]),
        ("/search/jql", enhanced_search, ["GET", "POST"]),
    ])
