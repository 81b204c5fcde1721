"""Markdown text for issues, pages and listings; every field may be missing or null."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from legacy_stdio.markup import jira_to_markdown, storage_to_markdown


def _name(value: Any, default: str = "None") -> str:
    """`displayName`/`name`/`value` of a Jira object that may be null."""
    if isinstance(value, dict):
        for key in ("displayName", "name", "value", "key"):
            if value.get(key):
                return str(value[key])
    if isinstance(value, str) and value:
        return value
    return default


def _date(value: Any) -> str:
    return str(value)[:10] if value else "—"


def _points(value: Any) -> str:
    if value is None:
        return "—"
    number = float(value)
    return f"{number:g}"


def issue_line(issue: dict[str, Any], points_field: str | None = None) -> str:
    fields = issue.get("fields") or {}
    parts = [
        _name(fields.get("status"), "?"),
        _name(fields.get("issuetype"), "?"),
        f"priority {_name(fields.get('priority'))}",
        f"assignee {_name(fields.get('assignee'), 'Unassigned')}",
    ]
    if points_field and fields.get(points_field) is not None:
        parts.append(f"{_points(fields.get(points_field))} pts")
    return f"- **{issue.get('key')}**: {fields.get('summary', '')} ({', '.join(parts)})"


def issue_list(title: str, issues: list[dict[str, Any]], points_field: str | None = None) -> str:
    if not issues:
        return f"# {title}\n\nNo issues found."
    lines = [issue_line(i, points_field) for i in issues]
    return f"# {title}\n\n{len(issues)} issue(s)\n\n" + "\n".join(lines)


def comment_block(author: str, created: Any, body_markdown: str) -> str:
    return f"**{author}** ({_date(created)}):\n\n{body_markdown}"


def jira_comments(issue: dict[str, Any]) -> list[dict[str, Any]]:
    comment = (issue.get("fields") or {}).get("comment") or {}
    return list(comment.get("comments") or [])


def issue_markdown(issue: dict[str, Any], *, include_comments: bool, points_field: str | None = None) -> str:
    """An issue with its key fields, description and (optionally) comments."""
    fields = issue.get("fields") or {}
    rows = [
        ("Type", _name(fields.get("issuetype"), "?")),
        ("Status", _name(fields.get("status"), "?")),
        ("Priority", _name(fields.get("priority"))),
        ("Assignee", _name(fields.get("assignee"), "Unassigned")),
        ("Reporter", _name(fields.get("reporter"), "None")),
        ("Created", _date(fields.get("created"))),
        ("Updated", _date(fields.get("updated"))),
    ]
    if fields.get("resolutiondate"):
        rows.append(("Resolved", _date(fields.get("resolutiondate"))))
    if points_field and fields.get(points_field) is not None:
        rows.append(("Story Points", _points(fields.get(points_field))))
    if fields.get("labels"):
        rows.append(("Labels", ", ".join(fields["labels"])))
    if fields.get("components"):
        rows.append(("Components", ", ".join(_name(c) for c in fields["components"])))
    if fields.get("fixVersions"):
        rows.append(("Fix versions", ", ".join(_name(v) for v in fields["fixVersions"])))
    if fields.get("parent"):
        rows.append(("Parent", str(fields["parent"].get("key"))))
    out = [f"# {issue.get('key')}: {fields.get('summary', '')}", ""]
    out.extend(f"- **{label}**: {value}" for label, value in rows)
    links = [_link_line(link) for link in fields.get("issuelinks") or []]
    if links:
        out += ["", "## Links", "", *links]
    out += ["", "## Description", "", jira_to_markdown(fields.get("description")) or "_No description._"]
    if include_comments:
        comments = jira_comments(issue)
        out += ["", f"## Comments ({len(comments)})", ""]
        for comment in comments:
            author = _name(comment.get("author"), "Unknown")
            out += [comment_block(author, comment.get("created"), jira_to_markdown(comment.get("body"))), ""]
        if not comments:
            out.append("_No comments._")
    return "\n".join(out).rstrip() + "\n"


def _link_line(link: dict[str, Any]) -> str:
    kind = link.get("type") or {}
    if link.get("outwardIssue"):
        other, verb = link["outwardIssue"], kind.get("outward", "relates to")
    else:
        other, verb = link.get("inwardIssue") or {}, kind.get("inward", "relates to")
    summary = (other.get("fields") or {}).get("summary", "")
    return f"- {verb} **{other.get('key')}** {summary}".rstrip()


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = list(headers)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def listing(title: str, headers: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f"# {title}\n\n{empty}"
    return f"# {title}\n\n{table(headers, rows)}"


def user_name(user: dict[str, Any] | None) -> str:
    return _name(user, "Unknown")


# ---------------------------------------------------------------- Confluence


def page_space(page: dict[str, Any]) -> str:
    return str((page.get("space") or {}).get("key", "?"))


def page_markdown(
    page: dict[str, Any],
    *,
    comments: list[dict[str, Any]] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """A page as markdown: title, where it lives, the body, then comments and history if given."""
    version = page.get("version") or {}
    body = ((page.get("body") or {}).get("storage") or {}).get("value")
    ancestors = " / ".join(str(a.get("title")) for a in page.get("ancestors") or [])
    out = [
        f"# {page.get('title', '')}",
        "",
        f"- **Page ID**: {page.get('id')}",
        f"- **Space**: {page_space(page)}",
        f"- **Version**: {version.get('number', '?')} by {_name(version.get('by'), 'Unknown')}"
        f" on {_date(version.get('when'))}",
    ]
    if ancestors:
        out.append(f"- **Ancestors**: {ancestors}")
    out += ["", storage_to_markdown(body) or "_Empty page._"]
    if comments is not None:
        out += ["", f"## Comments ({len(comments)})", ""]
        out += [confluence_comment(c) + "\n" for c in comments] or ["_No comments._"]
    if history is not None:
        out += ["", "## History", ""]
        out += [
            f"- v{v.get('number')} {_date(v.get('when'))} by {_name(v.get('by'), 'Unknown')}"
            + (f": {v['message']}" if v.get("message") else "")
            for v in history
        ]
    return "\n".join(out).rstrip() + "\n"


def confluence_comment(comment: dict[str, Any]) -> str:
    version = comment.get("version") or {}
    body = ((comment.get("body") or {}).get("storage") or {}).get("value")
    return comment_block(_name(version.get("by"), "Unknown"), version.get("when"), storage_to_markdown(body))


def page_rows(pages: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [p.get("id"), p.get("title"), page_space(p), _date((p.get("version") or {}).get("when"))] for p in pages
    ]


PAGE_HEADERS = ["ID", "Title", "Space", "Modified"]
