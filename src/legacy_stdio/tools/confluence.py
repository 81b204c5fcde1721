"""Confluence tools: the 0.2.10 set (defects fixed) and the additions."""

from __future__ import annotations

import re
from typing import Any

from legacy_stdio import render
from legacy_stdio.confluence import build_cql
from legacy_stdio.errors import BadArguments
from legacy_stdio.markup import to_storage
from legacy_stdio.services import Services
from legacy_stdio.tools.base import Args, Param, ToolRegistry, ToolResult

registry = ToolRegistry()

PAGE_ID = Param("page_id", "string", "Confluence page id", required=True)
OPT_PAGE_ID = Param("page_id", "string", "Page id (or give title + space_key)")
TITLE = Param("title", "string", "Page title (with space_key, instead of page_id)")
SPACE_KEY = Param("space_key", "string", "Space key (with title)")
PAGE_CHOICE = (("page_id",), ("title", "space_key"))
CONTENT_FORMAT = Param(
    "content_format", "string", "Format of content: auto (storage if it looks like XHTML, else markdown), "
    "markdown, storage (sent unchanged) or wiki", default="auto", enum=("auto", "markdown", "storage", "wiki"),
)


def page_uri(page_id: Any) -> str:
    return f"confluence://page/{page_id}"


async def _resolve(svc: Services, args: Args) -> dict[str, Any]:
    if args.opt_text("page_id"):
        return await svc.confluence.get_page(args.text("page_id"))
    return await svc.confluence.find_page(args.text("title"), args.text("space_key"))


async def page_text(svc: Services, page_id: str, include_comments: bool = True) -> str:
    """The markdown of one page with its comments (what tools, prompts and resources show)."""
    page = await svc.confluence.get_page(page_id)
    comments = await svc.confluence.comments(page_id) if include_comments else None
    return render.page_markdown(page, comments=comments)


async def _page_result(svc: Services, page_id: str, heading: str) -> ToolResult:
    text = await page_text(svc, page_id, include_comments=False)
    return ToolResult(f"{heading}\n\n{text}", page_uri(page_id))


@registry.tool(
    "search-confluence",
    "Search Confluence: plain words search titles and text; CQL (e.g. label = howto) passes through.",
    Param("query", "string", "Words or a CQL query", required=True),
    Param("space_key", "string", "Limit to one space"),
    Param("max_results", "integer", "Maximum number of results", default=10, minimum=1, maximum=200),
)
async def search_confluence(svc: Services, args: Args) -> ToolResult:
    cql = build_cql(args.text("query"), args.opt_text("space_key"), svc.confluence.spaces)
    results = await svc.confluence.search(cql, args.integer("max_results"))
    text = render.listing(f"Confluence results for '{args.text('query')}'", render.PAGE_HEADERS,
                          render.page_rows(results), "No results.")
    return ToolResult(f"{text}\n\nCQL: `{cql}`\n")


@registry.tool(
    "get-confluence-page",
    "Get a Confluence page as markdown (or its raw storage XHTML with format=raw), with comments and history.",
    OPT_PAGE_ID, TITLE, SPACE_KEY,
    Param("include_comments", "boolean", "Include the comments", default=True),
    Param("include_history", "boolean", "Include the version history", default=False),
    Param("format", "string", "markdown, or raw for the storage XHTML byte-for-byte", default="markdown",
          enum=("markdown", "raw")),
    one_of=PAGE_CHOICE,
)
async def get_confluence_page(svc: Services, args: Args) -> ToolResult:
    page = await _resolve(svc, args)
    page_id = str(page["id"])
    if args.text("format") == "raw":
        return ToolResult(str(((page.get("body") or {}).get("storage") or {}).get("value") or ""), page_uri(page_id))
    comments = await svc.confluence.comments(page_id) if args.flag("include_comments") else None
    history = await svc.confluence.history(page_id) if args.flag("include_history") else None
    return ToolResult(render.page_markdown(page, comments=comments, history=history), page_uri(page_id))


def relevant_sections(markdown: str, question: str, limit: int = 3) -> list[str]:
    """The page's sections (split at headings) sharing the most words with the question, in page order."""
    sections = [s.strip() for s in re.split(r"\n(?=#{1,6} )", markdown) if s.strip()]
    words = {w for w in re.findall(r"\w+", question.lower()) if len(w) > 2}
    scored = [(len(words & set(re.findall(r"\w+", s.lower()))), n) for n, s in enumerate(sections)]
    best = sorted((n for score, n in sorted(scored, reverse=True)[:limit] if score > 0))
    return [sections[n] for n in best] or sections[:limit]


@registry.tool(
    "ask-confluence-page",
    "Answer a question from a Confluence page: returns the question with the page content or its most "
    "relevant sections.",
    Param("question", "string", "The question", required=True),
    OPT_PAGE_ID, TITLE, SPACE_KEY,
    Param("context_type", "string", "full page, or only the relevant sections", default="full",
          enum=("full", "relevant")),
    one_of=PAGE_CHOICE,
)
async def ask_confluence_page(svc: Services, args: Args) -> ToolResult:
    page = await _resolve(svc, args)
    page_id = str(page["id"])
    comments = await svc.confluence.comments(page_id)
    text = render.page_markdown(page, comments=comments)
    question = args.text("question")
    context = text if args.text("context_type") == "full" else "\n\n".join(relevant_sections(text, question))
    body = (f"# Question\n\n{question}\n\n# Context from \"{page.get('title')}\" (page {page_id})\n\n{context}\n\n"
            "Answer the question using only this context; say so if it does not contain the answer.\n")
    return ToolResult(body, page_uri(page_id))


@registry.tool(
    "create-confluence-page",
    "Create a Confluence page; content is markdown, storage XHTML or wiki markup (see content_format).",
    Param("space_key", "string", "Space key", required=True),
    Param("title", "string", "Page title", required=True),
    Param("content", "string", "Page content", required=True),
    Param("parent_id", "string", "Parent page id"),
    CONTENT_FORMAT,
    write=True,
)
async def create_confluence_page(svc: Services, args: Args) -> ToolResult:
    storage = to_storage(args.text("content"), args.text("content_format"))
    page = await svc.confluence.create_page(args.text("space_key"), args.text("title"), storage,
                                            args.opt_text("parent_id"))
    return await _page_result(svc, str(page["id"]), f"Created page **{page.get('title')}** ({page['id']}).")


@registry.tool(
    "update-confluence-page",
    "Replace a page's title and content as a new version (one retry on a version conflict).",
    PAGE_ID,
    Param("title", "string", "Page title", required=True),
    Param("content", "string", "New content", required=True),
    Param("version", "integer", "Version number to save as (default: current + 1)", minimum=1),
    CONTENT_FORMAT,
    Param("version_comment", "string", "Version message"),
    Param("minor_edit", "boolean", "Minor edit (no notifications)", default=False),
    write=True,
)
async def update_confluence_page(svc: Services, args: Args) -> ToolResult:
    page_id = args.text("page_id")
    storage = to_storage(args.text("content"), args.text("content_format"))
    page = await svc.confluence.update_page(page_id, args.text("title"), storage, args.opt_integer("version"),
                                            args.opt_text("version_comment"), args.flag("minor_edit"))
    number = (page.get("version") or {}).get("number")
    return await _page_result(svc, page_id, f"Updated page {page_id} to version {number}.")


@registry.tool(
    "comment-confluence-page",
    "Add a comment to a Confluence page (markdown, or storage XHTML).",
    PAGE_ID,
    Param("comment", "string", "Comment text", required=True),
    CONTENT_FORMAT,
    write=True,
)
async def comment_confluence_page(svc: Services, args: Args) -> ToolResult:
    page_id = args.text("page_id")
    comment = await svc.confluence.add_comment(page_id, to_storage(args.text("comment"), args.text("content_format")))
    text = await page_text(svc, page_id)
    return ToolResult(f"Added comment {comment.get('id')} to page {page_id}.\n\n{text}", page_uri(page_id))


@registry.tool(
    "get-confluence-spaces",
    "List Confluence spaces.",
    Param("max_results", "integer", "Maximum number of spaces", default=25, minimum=1, maximum=200),
)
async def get_confluence_spaces(svc: Services, args: Args) -> ToolResult:
    spaces = await svc.confluence.spaces_list(args.integer("max_results"))
    rows = [[s.get("key"), s.get("name"), s.get("type", "")] for s in spaces]
    return ToolResult(render.listing("Confluence spaces", ["Key", "Name", "Type"], rows, "No spaces."))


@registry.tool(
    "get-confluence-page-children",
    "List the child pages of a page.",
    PAGE_ID,
    Param("max_results", "integer", "Maximum number of children", default=25, minimum=1, maximum=200),
)
async def get_confluence_page_children(svc: Services, args: Args) -> ToolResult:
    page_id = args.text("page_id")
    children = await svc.confluence.children(page_id, args.integer("max_results"))
    return ToolResult(render.listing(f"Children of page {page_id}", render.PAGE_HEADERS, render.page_rows(children),
                                     "No child pages."), page_uri(page_id))


@registry.tool("get-confluence-comments", "List the comments on a page (markdown).", PAGE_ID)
async def get_confluence_comments(svc: Services, args: Args) -> ToolResult:
    page_id = args.text("page_id")
    comments = await svc.confluence.comments(page_id)
    blocks = [render.confluence_comment(c) for c in comments] or ["_No comments._"]
    return ToolResult(f"# Comments on page {page_id} ({len(comments)})\n\n" + "\n\n".join(blocks) + "\n",
                      page_uri(page_id))


@registry.tool("get-confluence-labels", "List the labels of a page.", PAGE_ID)
async def get_confluence_labels(svc: Services, args: Args) -> ToolResult:
    page_id = args.text("page_id")
    labels = [str(label.get("name")) for label in await svc.confluence.labels(page_id)]
    body = ", ".join(labels) if labels else "_No labels._"
    return ToolResult(f"# Labels of page {page_id}\n\n{body}\n", page_uri(page_id))


@registry.tool(
    "add-confluence-label",
    "Add a label to a page.",
    PAGE_ID,
    Param("label", "string", "Label (no spaces)", required=True),
    write=True,
)
async def add_confluence_label(svc: Services, args: Args) -> ToolResult:
    page_id = args.text("page_id")
    if any(ch.isspace() for ch in args.text("label").strip()):
        raise BadArguments("A Confluence label cannot contain spaces")
    labels = [str(label.get("name")) for label in await svc.confluence.add_label(page_id, args.text("label"))]
    return ToolResult(f"Labelled page {page_id} '{args.text('label')}'. Labels now: {', '.join(labels)}.",
                      page_uri(page_id))


@registry.tool("delete-confluence-page", "Delete (trash) a Confluence page.", PAGE_ID, write=True)
async def delete_confluence_page(svc: Services, args: Args) -> ToolResult:
    page_id = args.text("page_id")
    await svc.confluence.delete_page(page_id)
    return ToolResult(f"Deleted page {page_id}.")
