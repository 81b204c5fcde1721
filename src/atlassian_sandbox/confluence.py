"""Confluence REST v1 routes under /wiki (cloud) or /confluence (dc): content, search, spaces, labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atlassian_sandbox import cql
from atlassian_sandbox.confluence_render import Confluence
from atlassian_sandbox.context import base_url, sandbox_of, store_of, user_of, writer_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.requests import int_param, json_object, json_value
from atlassian_sandbox.responses import Json
from atlassian_sandbox.seed import USERS, by_account_id
from atlassian_sandbox.store import Content, ContentVersion

CONTENT_TYPES = ("page", "comment")
WRITE_EXPAND = "body.storage,version,space,history,ancestors"


def confluence_of(request: Request) -> Confluence:
    box = sandbox_of(request)
    return Confluence(store=box.store, mode=box.mode, base=base_url(request) + box.confluence_prefix)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def found_content(request: Request, content_id: str | None = None) -> Content:
    ref = content_id if content_id is not None else request.path_params["id"]
    content = store_of(request).contents.get(ref)
    if content is None or content.status != "current":
        raise ApiError(404, f"No content found with id: ContentId{{id={ref}}}")
    return content


def paging(request: Request, default: int = 25) -> tuple[int, int]:
    return int_param(request, "start", 0), int_param(request, "limit", default, 1, 200)


def page_of(request: Request, items: list[Content], path: str, extra: dict[str, str]) -> dict[str, Any]:
    """A `results` page with `_links.next` (relative to the context path) while more remain."""
    conf = confluence_of(request)
    start, limit = paging(request)
    expand = request.query_params.get("expand")
    chosen = items[start : start + limit]
    next_link = None
    if start + limit < len(items):
        params = {**extra, "limit": str(limit), "start": str(start + limit)}
        if expand:
            params["expand"] = expand
        next_link = f"{path}?{urlencode(params)}"
    return conf.results([conf.content(c, expand) for c in chosen], start, limit, next_link)


async def search(request: Request) -> Response:
    text = request.query_params.get("cql", "")
    found = cql.search(store_of(request), text, user_of(request), now())
    return Json(page_of(request, found, "/rest/api/content/search", {"cql": text}))


async def site_search(request: Request) -> Response:
    """`/rest/api/search`: the same CQL, results wrapped with title, excerpt and url."""
    text = request.query_params.get("cql", "")
    found = cql.search(store_of(request), text, user_of(request), now())
    conf = confluence_of(request)
    start, limit = paging(request)
    expand = request.query_params.get("expand")
    results = [
        {
            "content": conf.content(c, expand),
            "title": c.title,
            "excerpt": cql.plain_text(c.body)[:200].strip(),
            "url": conf.webui(c),
            "resultGlobalContainer": {"title": store_of(request).spaces[c.space].name,
                                      "displayUrl": f"/spaces/{c.space}"},
            "lastModified": c.modified.isoformat().replace("+00:00", "Z"),
            "entityType": "content",
        }
        for c in found[start : start + limit]
    ]
    next_link = None
    if start + limit < len(found):
        next_link = "/rest/api/search?" + urlencode({"cql": text, "limit": limit, "start": start + limit})
    body = conf.results(results, start, limit, next_link, total=len(found))
    body["cqlQuery"] = text
    return Json(body)


async def list_content(request: Request) -> Response:
    q = request.query_params
    kind = q.get("type", "page")
    if kind not in (*CONTENT_TYPES, "blogpost"):
        raise ApiError(400, f"Unsupported content type: {kind}")
    found = [c for c in store_of(request).contents.values() if c.type == kind and c.status == "current"]
    if "spaceKey" in q:
        found = [c for c in found if c.space == q["spaceKey"]]
    if "title" in q:
        found = [c for c in found if c.title == q["title"]]
    found.sort(key=lambda c: int(c.id))
    extra = {k: q[k] for k in ("type", "spaceKey", "title") if k in q}
    return Json(page_of(request, found, "/rest/api/content", extra))


async def get_content(request: Request) -> Response:
    content = found_content(request)
    expand = request.query_params.get("expand", "space,history,version")
    wanted = request.query_params.get("version")
    version = None
    if wanted:
        version = next((v for v in content.versions if str(v.number) == wanted), None)
        if version is None:
            raise ApiError(404, f"No content found with id: ContentId{{id={content.id}}} and version {wanted}")
    return Json(confluence_of(request).content(content, expand, version))


def storage_of(body: dict[str, Any], required: bool) -> str | None:
    """The storage-format value of a request's `body`; kept byte for byte."""
    value = body.get("body")
    if value is None and not required:
        return None
    storage = value.get("storage") if isinstance(value, dict) else None
    if not isinstance(storage, dict) or not isinstance(storage.get("value"), str):
        raise ApiError(400, "The body must have a storage representation: {\"storage\": {\"value\": ...}}.")
    if storage.get("representation", "storage") != "storage":
        raise ApiError(400, f"Unsupported representation: {storage.get('representation')}")
    text: str = storage["value"]
    return text


def _check_title(request: Request, space: str, title: str, own_id: str | None) -> None:
    for other in store_of(request).contents.values():
        if (other.type == "page" and other.status == "current" and other.space == space
                and other.title == title and other.id != own_id):
            raise ApiError(400, f"A page with this title already exists: A page already exists with the title "
                                f"{title} in the space with key {space}")


def _parent_from_ancestors(request: Request, body: dict[str, Any], space: str) -> str | None:
    ancestors = body.get("ancestors")
    if not ancestors:
        return None
    if not isinstance(ancestors, list) or not isinstance(ancestors[-1], dict):
        raise ApiError(400, "ancestors must be a list of objects with an id")
    parent = found_content(request, str(ancestors[-1].get("id")))
    if parent.type != "page" or parent.space != space:
        raise ApiError(400, "The parent page must be a page in the same space.")
    return parent.id


async def create_content(request: Request) -> Response:
    user = writer_of(request, "create content")
    body = await json_object(request)
    kind = body.get("type")
    store = store_of(request)
    if kind not in CONTENT_TYPES:
        raise ApiError(400, f"Unsupported content type: {kind}")
    storage = storage_of(body, required=True) or ""
    space: str
    parent_id: str | None
    if kind == "comment":
        container = body.get("container")
        if not isinstance(container, dict) or "id" not in container:
            raise ApiError(400, "A comment must have a container with the id of its page.")
        page = found_content(request, str(container["id"]))
        space, parent_id, title = page.space, page.id, f"Re: {page.title}"
    else:
        space_ref = body.get("space")
        space_key = space_ref.get("key") if isinstance(space_ref, dict) else None
        if not space_key or space_key not in store.spaces:
            raise ApiError(400, f"No space with key : {space_key}" if space_key else "A page must have a space key.")
        space = str(space_key)
        raw_title = body.get("title")
        if not isinstance(raw_title, str) or not raw_title.strip():
            raise ApiError(400, "A page must have a title.")
        title = raw_title
        _check_title(request, space, title, None)
        parent_id = _parent_from_ancestors(request, body, space) or store.spaces[space].homepage_id
    content = Content(
        id=str(store.new_id()),
        type=kind,
        space=space,
        parent_id=parent_id,
        versions=[ContentVersion(1, title, storage, user.name, now())],
        position=len(store.children(parent_id, kind)) if parent_id else 0,
    )
    store.contents[content.id] = content
    return Json(confluence_of(request).content(content, WRITE_EXPAND + ",container"))


def _version_of(body: dict[str, Any], content: Content) -> dict[str, Any]:
    """The request's `version`, which must be the next number (409 otherwise, like Confluence)."""
    version = body.get("version")
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(version, dict) or not isinstance(number, int) or isinstance(number, bool):
        raise ApiError(400, "The version number must be given: {\"version\": {\"number\": N}}.")
    if number != content.latest.number + 1:
        raise ApiError(409, f"Version must be incremented on update. Current version is: {content.latest.number}")
    return version


def _new_parent(request: Request, body: dict[str, Any], content: Content) -> str | None:
    """The parent page named by `ancestors`, refusing a move below the page itself."""
    parent = _parent_from_ancestors(request, body, content.space)
    store = store_of(request)
    if parent and (parent == content.id or content.id in {a.id for a in store.ancestors(store.contents[parent])}):
        raise ApiError(400, "A page cannot be moved below itself.")
    return parent


async def update_content(request: Request) -> Response:
    content = found_content(request)
    user = writer_of(request, "edit this content")
    body = await json_object(request)
    version = _version_of(body, content)
    if body.get("type", content.type) != content.type:
        raise ApiError(400, "The content type cannot be changed.")
    title = body.get("title", content.title)
    if not isinstance(title, str) or not title.strip():
        raise ApiError(400, "Content must have a title.")
    parent = None
    if content.type == "page":
        _check_title(request, content.space, title, content.id)
        parent = _new_parent(request, body, content)
    storage = storage_of(body, required=False)
    # Everything is valid: only now change the page.
    if parent:
        content.parent_id = parent
    content.versions.append(ContentVersion(
        number=version["number"],
        title=title,
        body=content.body if storage is None else storage,
        by=user.name,
        when=now(),
        message=str(version.get("message") or ""),
        minor_edit=bool(version.get("minorEdit", False)),
    ))
    return Json(confluence_of(request).content(content, WRITE_EXPAND))


async def delete_content(request: Request) -> Response:
    content = found_content(request)
    writer_of(request, "delete this content")
    content.status = "trashed"
    return Response(status_code=204)


async def children(request: Request) -> Response:
    content = found_content(request)
    kind = request.path_params["kind"]
    if kind not in CONTENT_TYPES:
        raise ApiError(404, f"Unsupported child type: {kind}")
    store = store_of(request)
    found = store.children(content.id, kind)
    if kind == "comment" and request.query_params.get("depth") == "all":
        replies = [r for c in found for r in store.children(c.id, "comment")]
        found = found + replies
    return Json(page_of(request, found, f"/rest/api/content/{content.id}/child/{kind}", {}))


async def versions(request: Request) -> Response:
    content = found_content(request)
    conf = confluence_of(request)
    start, limit = paging(request, 200)
    newest_first = list(reversed(content.versions))
    chosen = [conf.version(content, v) for v in newest_first[start : start + limit]]
    more = f"/rest/api/content/{content.id}/version?start={start + limit}&limit={limit}"
    return Json(conf.results(chosen, start, limit, more if start + limit < len(newest_first) else None))


async def labels(request: Request) -> Response:
    return Json(confluence_of(request).labels(found_content(request)))


async def add_labels(request: Request) -> Response:
    content = found_content(request)
    writer_of(request, "add labels")
    raw = await json_value(request)
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or " " in name.strip():
            raise ApiError(400, "A label needs a name without spaces.")
        if name.lower() not in content.labels:
            content.labels.append(name.lower())
    return Json(confluence_of(request).labels(content))


async def remove_label(request: Request) -> Response:
    content = found_content(request)
    writer_of(request, "remove labels")
    name = request.path_params["label"].lower()
    if name not in content.labels:
        raise ApiError(404, f"Label {name} is not on content {content.id}")
    content.labels.remove(name)
    return Response(status_code=204)


async def spaces(request: Request) -> Response:
    conf = confluence_of(request)
    start, limit = paging(request)
    wanted = {k for k in request.query_params.getlist("spaceKey")}
    found = [s for s in store_of(request).spaces.values() if not wanted or s.key in wanted]
    more = f"/rest/api/space?start={start + limit}&limit={limit}"
    return Json(conf.results([conf.space(s) for s in found[start : start + limit]], start, limit,
                                     more if start + limit < len(found) else None))


async def space(request: Request) -> Response:
    found = store_of(request).spaces.get(request.path_params["key"])
    if found is None:
        raise ApiError(404, f"No space with key : {request.path_params['key']}")
    return Json(confluence_of(request).space(found))


async def current_user(request: Request) -> Response:
    return Json(confluence_of(request).user(user_of(request).name))


async def get_user(request: Request) -> Response:
    """`/user?accountId=` on cloud, `/user?username=` (or `key=`) on Server/DC."""
    q = request.query_params
    if sandbox_of(request).mode == "cloud":
        found = by_account_id(q.get("accountId", ""))
    else:
        found = USERS.get(q.get("username") or q.get("key") or "")
    if found is None:
        raise ApiError(404, "No user found with the given identifier.")
    return Json(confluence_of(request).user(found.name))


def routes(prefix: str) -> list[Route]:
    api = f"{prefix}/rest/api"
    return [
        Route(f"{api}/content/search", search, methods=["GET"]),
        Route(f"{api}/search", site_search, methods=["GET"]),
        Route(f"{api}/content", list_content, methods=["GET"]),
        Route(f"{api}/content", create_content, methods=["POST"]),
        Route(f"{api}/content/{{id}}", get_content, methods=["GET"]),
        Route(f"{api}/content/{{id}}", update_content, methods=["PUT"]),
        Route(f"{api}/content/{{id}}", delete_content, methods=["DELETE"]),
        Route(f"{api}/content/{{id}}/child/{{kind}}", children, methods=["GET"]),
        Route(f"{api}/content/{{id}}/version", versions, methods=["GET"]),
        Route(f"{api}/content/{{id}}/label", labels, methods=["GET"]),
        Route(f"{api}/content/{{id}}/label", add_labels, methods=["POST"]),
        Route(f"{api}/content/{{id}}/label/{{label}}", remove_label, methods=["DELETE"]),
        Route(f"{api}/space", spaces, methods=["GET"]),
        Route(f"{api}/space/{{key}}", space, methods=["GET"]),
        Route(f"{api}/user/current", current_user, methods=["GET"]),
        Route(f"{api}/user", get_user, methods=["GET"]),
    ]
