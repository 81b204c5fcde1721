"""Confluence REST v1 JSON shapes: content with `expand`, versions, spaces, users, paged results."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from atlassian_sandbox.catalog import confluence_time
from atlassian_sandbox.seed import USERS, User
from atlassian_sandbox.store import Content, ContentVersion, Space, Store

EXPANDABLE = ("space", "history", "version", "ancestors", "body", "container", "children", "metadata",
              "descendants", "operations", "restrictions")


@dataclass(frozen=True)
class Confluence:
    store: Store
    mode: str
    base: str  # the Confluence base URL, with /wiki or /confluence

    @property
    def rest(self) -> str:
        return f"{self.base}/rest/api"

    @property
    def context(self) -> str:
        return "/" + self.base.rsplit("/", 1)[1]

    def user(self, name: str) -> dict[str, Any]:
        user: User | None = USERS.get(name)
        if user is None:
            return {"type": "anonymous", "displayName": "Anonymous"}
        picture = {"path": f"{self.context}/images/icons/profilepics/default.svg", "width": 48, "height": 48,
                   "isDefault": True}
        if self.mode == "cloud":
            return {"type": "known", "accountId": user.account_id, "accountType": "atlassian",
                    "email": user.email, "publicName": user.display_name, "displayName": user.display_name,
                    "profilePicture": picture,
                    "_links": {"self": f"{self.rest}/user?accountId={user.account_id}"}}
        return {"type": "known", "username": user.name, "userKey": user.key, "displayName": user.display_name,
                "profilePicture": picture, "_links": {"self": f"{self.rest}/user?key={user.key}"}}

    def space(self, space: Space) -> dict[str, Any]:
        webui = f"/spaces/{space.key}" if self.mode == "cloud" else f"/display/{space.key}"
        return {
            "id": space.id,
            "key": space.key,
            "name": space.name,
            "type": "global",
            "status": "current",
            "_expandable": {"description": "", "homepage": f"/rest/api/content/{space.homepage_id}"},
            "_links": {"webui": webui, "self": f"{self.rest}/space/{space.key}"},
        }

    def version(self, content: Content, version: ContentVersion) -> dict[str, Any]:
        return {
            "by": self.user(version.by),
            "when": confluence_time(version.when),
            "message": version.message,
            "number": version.number,
            "minorEdit": version.minor_edit,
            "_links": {"self": f"{self.rest}/content/{content.id}/version/{version.number}"},
        }

    def webui(self, content: Content) -> str:
        if content.type == "comment":
            page = self.store.contents.get(content.parent_id or "")
            return (self.webui(page) if page else "") + f"?focusedCommentId={content.id}#comment-{content.id}"
        if self.mode == "cloud":
            return f"/spaces/{content.space}/pages/{content.id}/{quote(content.title.replace(' ', '+'), safe='+')}"
        return f"/pages/viewpage.action?pageId={content.id}"

    def content(self, content: Content, expand: str | None, version: ContentVersion | None = None) -> dict[str, Any]:
        """One page or comment; `version` renders an older version (status "historical")."""
        shown = version or content.latest
        wanted = {e.strip() for e in (expand or "").split(",") if e.strip()}
        tops = {e.split(".")[0] for e in wanted}
        body: dict[str, Any] = {
            "id": content.id,
            "type": content.type,
            "status": "historical" if version and version is not content.latest else content.status,
            "title": shown.title,
        }
        space = self.store.spaces.get(content.space)
        if "space" in tops and space is not None:
            body["space"] = self.space(space)
        if "history" in tops:
            history: dict[str, Any] = {
                "latest": shown is content.latest,
                "createdBy": self.user(content.creator),
                "createdDate": confluence_time(content.created),
            }
            if "history.lastUpdated" in wanted:
                history["lastUpdated"] = self.version(content, content.latest)
            body["history"] = history
        if "version" in tops:
            body["version"] = self.version(content, shown)
        if "ancestors" in tops:
            body["ancestors"] = [self.content(a, None) for a in self.store.ancestors(content)
                                 if a.type == "page"]
        if "container" in tops:
            parent = self.store.contents.get(content.parent_id or "")
            body["container"] = self.content(parent, None) if content.type == "comment" and parent else (
                self.space(space) if space else None)
        if "body" in tops:
            body["body"] = self.bodies(shown, wanted)
        if "metadata" in tops:
            body["metadata"] = {"labels": self.labels(content)}
        if "children" in tops:
            children: dict[str, Any] = {}
            for kind in ("page", "comment"):
                if f"children.{kind}" in wanted:
                    found = [self.content(c, None) for c in self.store.children(content.id, kind)]
                    children[kind] = self.results(found, 0, 25, None)
            body["children"] = children
        body["extensions"] = {"position": content.position} if content.type == "page" else {
            "location": "footer", "_expandable": {"inlineProperties": "", "resolution": ""}}
        body["_expandable"] = {k: "" for k in EXPANDABLE if k not in tops}
        body["_links"] = {
            "webui": self.webui(content),
            "edit": f"/pages/resumedraft.action?draftId={content.id}",
            "tinyui": f"/x/{content.id}",
            "self": f"{self.rest}/content/{content.id}",
        }
        return body

    def bodies(self, version: ContentVersion, wanted: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for representation in ("storage", "view", "export_view", "styled_view"):
            if f"body.{representation}" in wanted:
                out[representation] = {"value": version.body, "representation": representation,
                                       "_expandable": {"content": ""}}
        return out

    def labels(self, content: Content) -> dict[str, Any]:
        found = [{"prefix": "global", "name": name, "id": str(zlib.crc32(name.encode())), "label": name}
                 for name in content.labels]
        return self.results(found, 0, 200, None)

    def results(self, items: list[Any], start: int, limit: int, next_link: str | None,
                total: int | None = None) -> dict[str, Any]:
        links: dict[str, Any] = {"base": self.base, "context": self.context}
        if next_link:
            links["next"] = next_link
        body: dict[str, Any] = {"results": items, "start": start, "limit": limit, "size": len(items),
                                "_links": links}
        if total is not None:
            body["totalSize"] = total
        return body
