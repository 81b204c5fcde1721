"""Resources: recent issues and pages, and templates that read any issue or page as markdown."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import mcp_types as types

from legacy_stdio import render
from legacy_stdio.confluence import cql_string
from legacy_stdio.errors import BadArguments, ServiceError
from legacy_stdio.services import Services
from legacy_stdio.tools.confluence import page_text, page_uri
from legacy_stdio.tools.jira import issue_text, issue_uri

log = logging.getLogger(__name__)

RECENT = 10

TEMPLATES = (
    types.ResourceTemplate(name="jira-issue", uri_template="jira://issue/{key}", mime_type="text/markdown",
                           description="A Jira issue with its comments, as markdown"),
    types.ResourceTemplate(name="confluence-page", uri_template="confluence://page/{id}", mime_type="text/markdown",
                           description="A Confluence page with its comments, as markdown"),
    types.ResourceTemplate(name="confluence-space-page", uri_template="confluence://space/{key}/page/{id}",
                           mime_type="text/markdown", description="The 0.2.x form of a page URI"),
)


async def recent_resources(svc: Services) -> list[types.Resource]:
    """Issues updated in the last 30 days and the latest pages; a failing service is left out (and logged)."""
    found: list[types.Resource] = []
    if svc.has_jira:
        try:
            issues = await svc.jira.search("updated >= -30d ORDER BY updated DESC", RECENT)
            found += [
                types.Resource(uri=issue_uri(str(i["key"])), name=f"{i['key']}: {(i.get('fields') or {}).get('summary', '')}",
                               mime_type="text/markdown")
                for i in issues
            ]
        except ServiceError as exc:
            log.warning("recent issues unavailable: %s", exc)
    if svc.has_confluence:
        try:
            cql = "type = page ORDER BY lastmodified DESC"
            if svc.confluence.spaces:
                cql = f"space in ({', '.join(map(cql_string, svc.confluence.spaces))}) AND {cql}"
            pages = await svc.confluence.search(cql, RECENT)
            found += [
                types.Resource(uri=page_uri(p["id"]), name=f"{render.page_space(p)}: {p.get('title', '')}",
                               mime_type="text/markdown")
                for p in pages
            ]
        except ServiceError as exc:
            log.warning("recent pages unavailable: %s", exc)
    return found


def parse_uri(uri: str) -> tuple[str, str]:
    """("issue", KEY) or ("page", ID) from jira://issue/KEY, confluence://page/ID, confluence://space/K/page/ID."""
    parts = urlsplit(uri)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme == "jira" and parts.netloc == "issue" and len(segments) == 1:
        return "issue", segments[0].upper()
    if parts.scheme == "confluence" and parts.netloc == "page" and len(segments) == 1:
        return "page", segments[0]
    if parts.scheme == "confluence" and parts.netloc == "space" and len(segments) == 3 and segments[1] == "page":
        return "page", segments[2]
    raise BadArguments(f"Unknown resource URI: {uri} (expected jira://issue/KEY or confluence://page/ID)")


async def read_resource(svc: Services, uri: str) -> types.ReadResourceResult:
    kind, ident = parse_uri(uri)
    text = await issue_text(svc, ident) if kind == "issue" else await page_text(svc, ident)
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=uri, mime_type="text/markdown", text=text)]
    )
