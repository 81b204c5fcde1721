"""Confluence REST v1 client (`{CONFLUENCE_URL}/rest/api`), storage format bodies."""

from __future__ import annotations

import re
from typing import Any

from legacy_stdio.errors import ServiceError
from legacy_stdio.http import ApiClient
from legacy_stdio.query import Split, narrow, split_query
from legacy_stdio.query import split_order_by as split_order_by

API = "/rest/api"
PAGE_EXPAND = "body.storage,version,space,ancestors"
_CQL_FIELDS = re.compile(
    r"\b(type|space|title|text|label|creator|contributor|lastmodified|created|ancestor|parent|id|siteSearch)"
    r"\s*(=|!=|~|!~|>=|<=|>|<|\bin\b|\bnot in\b)",
    re.IGNORECASE,
)


def cql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_cql(query: str) -> bool:
    """Whether `query` is already CQL (a field with an operator) rather than plain words."""
    return bool(_CQL_FIELDS.search(query))


def build_cql(query: str, space_key: str | None, spaces: tuple[str, ...]) -> str:
    """CQL for `search-confluence`: plain words become `title ~ / text ~`; CQL passes through.

    `space_key` and CONFLUENCE_SPACES_FILTER narrow either form; an ORDER BY clause stays last.
    """
    if is_cql(query):
        split = split_query(query)
    else:
        words = cql_string(query.strip())
        split = Split(f"type = page AND (title ~ {words} OR text ~ {words})", "", True)
    scopes = []
    if space_key:
        scopes.append(f"space = {cql_string(space_key)}")
    if spaces:
        scopes.append("space in (" + ", ".join(cql_string(s) for s in spaces) + ")")
    return narrow(split, scopes, argument="query", language="CQL", allowed="spaces")


class ConfluenceClient:
    """Typed operations over Confluence REST v1 for one signed-in user."""

    def __init__(self, api: ApiClient, spaces: tuple[str, ...]) -> None:
        self.api = api
        self.spaces = spaces

    def check_space(self, space_key: str | None) -> None:
        if self.spaces and space_key not in self.spaces:
            raise ServiceError(
                f"Space {space_key} is outside CONFLUENCE_SPACES_FILTER ({', '.join(self.spaces)})"
            )

    async def guard(self, page_id: str) -> None:
        """With CONFLUENCE_SPACES_FILTER set, refuse pages in other spaces."""
        if self.spaces:
            await self.get_page(page_id, expand="space")

    async def search(self, cql: str, limit: int) -> list[dict[str, Any]]:
        """Content matching `cql`, following `_links.next` pages up to `limit`."""
        results: list[dict[str, Any]] = []
        while len(results) < limit:
            params = {"cql": cql, "limit": min(50, limit - len(results)), "start": len(results),
                      "expand": "space,version"}
            page = await self.api.request("GET", f"{API}/content/search", params=params) or {}
            found = page.get("results") or []
            results.extend(found)
            if not found or not (page.get("_links") or {}).get("next"):
                break
        return results[:limit]

    async def get_page(self, page_id: str, expand: str = PAGE_EXPAND) -> dict[str, Any]:
        page: dict[str, Any] = await self.api.request("GET", f"{API}/content/{page_id}", params={"expand": expand})
        self.check_space((page.get("space") or {}).get("key"))
        return page

    async def find_page(self, title: str, space_key: str) -> dict[str, Any]:
        self.check_space(space_key)
        params = {"title": title, "spaceKey": space_key, "type": "page", "expand": PAGE_EXPAND}
        found = await self.api.request("GET", f"{API}/content", params=params) or {}
        results = found.get("results") or []
        if not results:
            raise ServiceError(f"No Confluence page titled {title!r} in space {space_key}", 404)
        page: dict[str, Any] = results[0]
        return page

    async def create_page(self, space_key: str, title: str, storage: str, parent_id: str | None) -> dict[str, Any]:
        self.check_space(space_key)
        body: dict[str, Any] = {
            "type": "page", "title": title, "space": {"key": space_key},
            "body": {"storage": {"value": storage, "representation": "storage"}},
        }
        if parent_id:
            body["ancestors"] = [{"id": parent_id}]
        page: dict[str, Any] = await self.api.request("POST", f"{API}/content", json=body)
        return page

    async def update_page(
        self, page_id: str, title: str, storage: str, version: int | None, message: str | None, minor: bool
    ) -> dict[str, Any]:
        """PUT the next version; on a 409 conflict, re-read the current version and try once more."""
        current = await self.get_page(page_id, expand="version,space")
        number = int(version) if version else int(current["version"]["number"]) + 1
        try:
            return await self._put_page(page_id, title, storage, number, message, minor)
        except ServiceError as exc:
            if exc.status != 409:
                raise
        latest = await self.get_page(page_id, expand="version,space")
        return await self._put_page(page_id, title, storage, int(latest["version"]["number"]) + 1, message, minor)

    async def _put_page(
        self, page_id: str, title: str, storage: str, number: int, message: str | None, minor: bool
    ) -> dict[str, Any]:
        version: dict[str, Any] = {"number": number, "minorEdit": minor}
        if message:
            version["message"] = message
        body = {
            "id": page_id, "type": "page", "title": title, "version": version,
            "body": {"storage": {"value": storage, "representation": "storage"}},
        }
        page: dict[str, Any] = await self.api.request("PUT", f"{API}/content/{page_id}", json=body)
        return page

    async def add_comment(self, page_id: str, storage: str) -> dict[str, Any]:
        await self.guard(page_id)
        body = {
            "type": "comment", "container": {"id": page_id, "type": "page"},
            "body": {"storage": {"value": storage, "representation": "storage"}},
        }
        comment: dict[str, Any] = await self.api.request("POST", f"{API}/content", json=body)
        return comment

    async def comments(self, page_id: str) -> list[dict[str, Any]]:
        await self.guard(page_id)
        params = {"expand": "body.storage,version", "limit": 100}
        found = await self.api.request("GET", f"{API}/content/{page_id}/child/comment", params=params) or {}
        return list(found.get("results") or [])

    async def children(self, page_id: str, limit: int) -> list[dict[str, Any]]:
        await self.guard(page_id)
        params = {"expand": "version,space", "limit": limit}
        found = await self.api.request("GET", f"{API}/content/{page_id}/child/page", params=params) or {}
        return list(found.get("results") or [])

    async def history(self, page_id: str) -> list[dict[str, Any]]:
        await self.guard(page_id)
        found = await self.api.request("GET", f"{API}/content/{page_id}/version", params={"limit": 50}) or {}
        return list(found.get("results") or [])

    async def labels(self, page_id: str) -> list[dict[str, Any]]:
        await self.guard(page_id)
        found = await self.api.request("GET", f"{API}/content/{page_id}/label") or {}
        return list(found.get("results") or [])

    async def add_label(self, page_id: str, label: str) -> list[dict[str, Any]]:
        await self.guard(page_id)
        found = await self.api.request(
            "POST", f"{API}/content/{page_id}/label", json=[{"prefix": "global", "name": label}]
        ) or {}
        return list(found.get("results") or [])

    async def delete_page(self, page_id: str) -> None:
        await self.guard(page_id)
        await self.api.request("DELETE", f"{API}/content/{page_id}")

    async def spaces_list(self, limit: int) -> list[dict[str, Any]]:
        found = await self.api.request("GET", f"{API}/space", params={"limit": limit}) or {}
        spaces = list(found.get("results") or [])
        if self.spaces:
            spaces = [s for s in spaces if s.get("key") in self.spaces]
        return spaces
