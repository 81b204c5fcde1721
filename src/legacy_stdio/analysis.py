"""Reports derived from Jira data: summaries, links, stand-ups, assignee recommendations, estimates."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from legacy_stdio import render
from legacy_stdio.markup import jira_to_markdown

_URL = re.compile(r"https?://[^\s|\]\[)(<>\"'}{]+")
_GIT_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
_FIBONACCI = (1, 2, 3, 5, 8, 13, 21)


def _fields(issue: dict[str, Any]) -> dict[str, Any]:
    return dict(issue.get("fields") or {})


def _category(issue: dict[str, Any]) -> str:
    status = _fields(issue).get("status") or {}
    return str((status.get("statusCategory") or {}).get("key") or "")


def _person(user: dict[str, Any] | None) -> str | None:
    if not user:
        return None
    return str(user.get("accountId") or user.get("name") or user.get("key") or "") or None


# ---------------------------------------------------------------- summary


def summarize_issue(issue: dict[str, Any]) -> str:
    fields = _fields(issue)
    description = jira_to_markdown(fields.get("description"))
    if len(description) > 800:
        description = description[:800].rsplit(" ", 1)[0] + " …"
    comments = render.jira_comments(issue)
    people = (
        f"assigned to {render.user_name(fields.get('assignee')) if fields.get('assignee') else 'nobody'}, "
        f"reported by {render.user_name(fields.get('reporter')) if fields.get('reporter') else 'nobody'}"
    )
    out = [
        f"# Summary of {issue.get('key')}",
        "",
        f"**{fields.get('summary', '')}**",
        "",
        f"{render.user_name(fields.get('issuetype'))} in status **{render.user_name(fields.get('status'))}**, "
        f"priority {render.user_name(fields.get('priority')) if fields.get('priority') else 'None'}, {people}.",
        "",
        "## Description",
        "",
        description or "_No description._",
    ]
    if comments:
        out += ["", f"## Latest comments ({len(comments)} in total)", ""]
        for comment in comments[-3:]:
            body = jira_to_markdown(comment.get("body")).replace("\n\n", " ").replace("\n", " ")
            out.append(f"- **{render.user_name(comment.get('author'))}**: {body}")
    links = fields.get("issuelinks") or []
    if links:
        keys = [str((link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key")) for link in links]
        out += ["", "Linked issues: " + ", ".join(keys)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- links


@dataclass(frozen=True)
class FoundLink:
    url: str
    title: str
    source: str  # description | comment | remote link
    kind: str  # confluence | git | other
    page_id: str | None = None


def classify_url(url: str, confluence_base: str | None) -> tuple[str, str | None]:
    parsed = urlparse(url)
    page = re.search(r"pageId=(\d+)", url) or re.search(r"/pages/(\d+)", parsed.path)
    page_id = page.group(1) if page else None
    base_host = urlparse(confluence_base).netloc if confluence_base else None
    confluence_path = any(p in parsed.path for p in ("/wiki/", "/confluence/", "/display/", "/spaces/"))
    if (base_host and url.startswith(str(confluence_base))) or page_id or confluence_path:
        return "confluence", page_id
    if parsed.netloc.lower().removeprefix("www.") in _GIT_HOSTS or "/-/merge_requests/" in parsed.path:
        return "git", None
    return "other", None


def extract_links(
    issue: dict[str, Any], remote_links: list[dict[str, Any]], confluence_base: str | None
) -> list[FoundLink]:
    """Every URL in the description, the comments and the remote links, classified; no duplicates."""
    found: dict[str, FoundLink] = {}

    def add(url: str, title: str, source: str) -> None:
        url = url.rstrip(".,;")
        if url not in found:
            kind, page_id = classify_url(url, confluence_base)
            found[url] = FoundLink(url, title, source, kind, page_id)

    for link in remote_links:
        target = link.get("object") or {}
        if target.get("url"):
            add(str(target["url"]), str(target.get("title") or ""), "remote link")
    for url in _URL.findall(str(_fields(issue).get("description") or "")):
        add(url, "", "description")
    for comment in render.jira_comments(issue):
        for url in _URL.findall(str(comment.get("body") or "")):
            add(url, "", "comment")
    return list(found.values())


def links_markdown(key: str, links: list[FoundLink], include_git: bool) -> str:
    confluence = [link for link in links if link.kind == "confluence"]
    out = [f"# Links in {key}", "", f"## Confluence pages ({len(confluence)})", ""]
    out += [_link_line(link) for link in confluence] or ["_None._"]
    if include_git:
        git = [link for link in links if link.kind == "git"]
        out += ["", f"## Git URLs ({len(git)})", ""]
        out += [_link_line(link) for link in git] or ["_None._"]
    return "\n".join(out) + "\n"


def _link_line(link: FoundLink) -> str:
    title = link.title or link.url
    page = f", page {link.page_id}" if link.page_id else ""
    return f"- [{title}]({link.url}) ({link.source}{page})"


# ---------------------------------------------------------------- sprints and stand-ups

SPRINT_HEADERS = ["ID", "Name", "State", "Start", "End", "Goal"]


def sprint_row(sprint: dict[str, Any]) -> list[Any]:
    return [
        sprint.get("id"), sprint.get("name"), sprint.get("state"),
        str(sprint.get("startDate") or "—")[:10], str(sprint.get("endDate") or "—")[:10], sprint.get("goal") or "",
    ]


_STANDUP_GROUPS = (("done", "Done"), ("indeterminate", "In progress"), ("new", "To do"))


def standup_markdown(title: str, issues: list[dict[str, Any]], points_field: str | None) -> str:
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for issue in issues:
        assignee = _fields(issue).get("assignee")
        by_person[render.user_name(assignee) if assignee else "Unassigned"].append(issue)
    counts = Counter(_category(i) for i in issues)
    out = [
        f"# {title}", "",
        f"{len(issues)} issue(s): {counts['done']} done, {counts['indeterminate']} in progress, "
        f"{counts['new']} to do.",
    ]
    for person in sorted(by_person, key=lambda p: (p == "Unassigned", p)):
        out += ["", f"## {person}"]
        for category, label in _STANDUP_GROUPS:
            mine = [i for i in by_person[person] if _category(i) == category]
            if mine:
                out += ["", f"**{label}**", *(render.issue_line(i, points_field) for i in mine)]
    blockers = [i for i in issues if _category(i) != "done"
                and render.user_name(_fields(i).get("priority")) in {"Highest", "Blocker"}]
    if blockers:
        out += ["", "## Needs attention (highest priority, not done)", "",
                *(render.issue_line(i, points_field) for i in blockers)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- assignee recommendations


@dataclass(frozen=True)
class Candidate:
    name: str
    ident: str
    experience: int  # done issues sharing a label/component/type
    load: int  # open issues assigned now
    score: float


def _traits(issue: dict[str, Any]) -> set[str]:
    fields = _fields(issue)
    traits = {f"label:{label}" for label in fields.get("labels") or []}
    traits |= {f"component:{render.user_name(c)}" for c in fields.get("components") or []}
    return traits


def recommend_assignees(
    issue: dict[str, Any], candidates: list[dict[str, Any]], history: list[dict[str, Any]]
) -> list[Candidate]:
    """Rank assignable users: similar finished work counts for, open work counts against."""
    traits = _traits(issue)
    issue_type = render.user_name(_fields(issue).get("issuetype"))
    experience: Counter[str] = Counter()
    load: Counter[str] = Counter()
    for other in history:
        person = _person(_fields(other).get("assignee"))
        if not person or other.get("key") == issue.get("key"):
            continue
        if _category(other) == "done":
            shared = len(traits & _traits(other))
            same_type = render.user_name(_fields(other).get("issuetype")) == issue_type
            experience[person] += shared * 2 + (1 if same_type else 0)
        else:
            load[person] += 1
    ranked = []
    for user in candidates:
        ident = _person(user)
        if not ident or user.get("active") is False:
            continue
        score = experience[ident] - 0.5 * load[ident]
        ranked.append(Candidate(render.user_name(user), ident, experience[ident], load[ident], score))
    return sorted(ranked, key=lambda c: (-c.score, c.load, c.name))


def recommendations_markdown(key: str, ranked: list[Candidate]) -> str:
    rows = [[n, c.name, c.experience, c.load, f"{c.score:g}"] for n, c in enumerate(ranked, start=1)]
    text = render.listing(f"Assignment recommendations for {key}",
                          ["Rank", "User", "Relevant experience", "Open issues", "Score"], rows,
                          "No assignable users found.")
    if ranked:
        text += f"\n\nRecommended: **{ranked[0].name}** (`{ranked[0].ident}`)."
    return text + "\n"


# ---------------------------------------------------------------- story point estimates


def _nearest_fibonacci(value: float) -> int:
    return min(_FIBONACCI, key=lambda f: (abs(f - value), f))


def estimate_markdown(issue: dict[str, Any], similar: list[dict[str, Any]], points_field: str | None) -> str:
    key = issue.get("key")
    fields = _fields(issue)
    out = [f"# Story point estimate for {key}", "", f"**{fields.get('summary', '')}**", ""]
    if points_field is None:
        return "\n".join([*out, "Jira has no Story Points field, so there is nothing to estimate from."]) + "\n"
    current = fields.get(points_field)
    if current is not None:
        out.append(f"Current estimate: {float(current):g} points.")
    scored = [i for i in similar if i.get("key") != key and _fields(i).get(points_field) is not None]
    resolved = [i for i in scored if _fields(i).get("resolutiondate")] or scored
    traits = _traits(issue)
    closest = [i for i in resolved if traits & _traits(i)] or resolved
    if not closest:
        description = jira_to_markdown(fields.get("description"))
        guess = _nearest_fibonacci(1 + len(description) / 400)
        return "\n".join([*out, f"No similar estimated issues found; from the description size: **{guess}** points."])
    values = [float(_fields(i)[points_field]) for i in closest]
    estimate = _nearest_fibonacci(statistics.median(values))
    out += [
        f"Estimate: **{estimate}** points (median {statistics.median(values):g} of {len(values)} similar "
        f"{'resolved ' if closest[0].get('fields', {}).get('resolutiondate') else ''}issue(s)).",
        "",
        "Similar issues:",
        *(render.issue_line(i, points_field) for i in closest[:10]),
    ]
    return "\n".join(out) + "\n"
