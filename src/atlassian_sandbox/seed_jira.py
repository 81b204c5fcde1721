"""Jira demo data: DEMO (Scrum), OPS (Kanban) and SEC (hidden from the viewer), ~50 issues.

Everything is deterministic; dates are offsets from the seeding moment so relative JQL works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from atlassian_sandbox.catalog import STATUSES
from atlassian_sandbox.store import (
    Board,
    Change,
    ChangeItem,
    Comment,
    Issue,
    IssueLink,
    Project,
    RemoteLink,
    Sprint,
    Store,
    Version,
    Worklog,
)


@dataclass(frozen=True)
class Row:
    type: str
    summary: str
    status: str
    assignee: str | None
    priority: str | None = "Medium"
    points: float | None = None
    sprint: int | None = None  # index into the project's sprints
    labels: tuple[str, ...] = ()
    parent: int | None = None  # 1-based number of the parent issue in the same project
    reporter: str | None = "alice"
    fix: tuple[str, ...] = ()
    components: tuple[str, ...] = field(default=())


DEMO_ROWS = [
    Row("Epic", "Checkout revamp", "In Progress", "alice", "High", labels=("checkout",)),
    Row("Story", "As a shopper I can pay with a saved card", "Done", "bob", "High", 5, 0, ("checkout",), 1,
        fix=("1.0",), components=("Backend",)),
    Row("Story", "As a shopper I see my order history", "Done", "carol", "Medium", 3, 0, ("orders",),
        fix=("1.0",), components=("Frontend",)),
    Row("Task", "Set up payment provider sandbox account", "Done", "alice", "Low", None, 0, ("checkout",)),
    Row("Bug", "Cart total ignores discount codes", "Done", "bob", "Highest", None, 0, ("checkout", "bug"),
        fix=("1.0",), components=("Backend",)),
    Row("Story", "As a shopper I can apply a gift card", "In Progress", "bob", "High", 8, 1, ("checkout",), 1,
        fix=("1.1",)),
    Row("Story", "As an admin I can refund an order", "In Review", "carol", "Medium", 5, 1, ("orders",),
        components=("Backend",)),
    Row("Task", "Write API docs for the orders endpoint", "To Do", None, None, None, 1, ("docs",),
        reporter=None),
    Row("Bug", "Order confirmation email shows wrong currency", "In Progress", "carol", "High", None, 1,
        ("orders", "bug"), components=("Backend",)),
    Row("Sub-task", "Add gift card balance endpoint", "Done", "bob", "Medium", None, 1, (), 6),
    Row("Sub-task", "Gift card UI in the checkout form", "To Do", "carol", "Medium", None, 1, (), 6),
    Row("Story", "As a shopper I can save items for later", "To Do", None, "Low", 3, 1, ("wishlist",)),
    Row("Story", "Search suggestions while typing", "To Do", "bob", "Medium", 13, 2, ("search",),
        fix=("1.1",)),
    Row("Task", "Upgrade the web framework", "To Do", "alice", None, None, 2, ("tech-debt",)),
    Row("Bug", "Login page flickers on Safari", "To Do", None, "Low", None, None, ("frontend", "bug"),
        reporter="carol", components=("Frontend",)),
    Row("Story", "As a shopper I get order status notifications", "To Do", None, "Medium", 5, None, ("orders",)),
    Row("Epic", "Search relevance", "To Do", "bob", "Medium", labels=("search",)),
    Row("Task", "Index product descriptions", "In Progress", "alice", "Medium", None, 1, ("search",), 17),
    Row("Story", "Ranking uses purchase history", "To Do", "carol", "Low", 8, 2, ("search",), 17),
    Row("Bug", "Pagination breaks on the last results page", "In Review", "bob", "High", None, 1,
        ("search", "bug")),
    Row("Task", "Load test the checkout flow", "To Do", "carol", "Medium", None, 2, ("checkout", "perf")),
    Row("Story", "Export orders as CSV", "Done", "alice", "Low", 2, 0, ("orders",), fix=("1.0",)),
    Row("Task", "Remove the legacy cart service", "To Do", None, "Lowest", None, None, ("tech-debt",)),
    Row("Bug", "Typo in the refund confirmation dialog", "Done", "carol", "Lowest", None, 0, ("frontend",)),
    Row("Story", "Dark mode for the storefront", "To Do", None, None, 5, None, ("frontend",), reporter=None),
]

OPS_ROWS = [
    Row("Task", "Rotate TLS certificates", "Done", "alice", "High", labels=("security", "infra")),
    Row("Task", "Migrate CI runners to the new cluster", "In Progress", "bob", "Medium", labels=("infra", "ci")),
    Row("Bug", "Disk alerts fire twice", "To Do", None, "Medium", labels=("monitoring", "bug")),
    Row("Task", "Nightly database backup verification", "Done", "carol", "High", labels=("backup",)),
    Row("Task", "Document the on-call rota", "In Review", "alice", "Low", labels=("docs",)),
    Row("Bug", "Grafana dashboard times out", "In Progress", "carol", "Medium", labels=("monitoring",)),
    Row("Task", "Upgrade Kubernetes to the next minor", "To Do", "bob", "High", labels=("infra",)),
    Row("Task", "Clean up unused S3 buckets", "To Do", None, None, labels=("cost",), reporter=None),
    Row("Bug", "Log shipping drops lines under load", "Done", "bob", "Highest", labels=("logging", "bug")),
    Row("Task", "Add synthetic checks for checkout", "To Do", "carol", "Medium", labels=("monitoring",)),
    Row("Task", "Budget alerts for the staging account", "Done", "alice", "Low", labels=("cost",)),
    Row("Task", "Patch OpenSSL on bastion hosts", "In Progress", "alice", "Highest", labels=("security",)),
    Row("Bug", "Backup job exits 0 on failure", "To Do", "bob", "High", labels=("backup", "bug")),
    Row("Task", "Terraform state locking", "Done", "carol", "Medium", labels=("infra",)),
    Row("Task", "Runbook for queue backlog", "To Do", None, "Low", labels=("docs", "runbook")),
]

SEC_ROWS = [
    Row("Bug", "Session tokens not rotated after password change", "In Progress", "alice", "Highest",
        labels=("security",)),
    Row("Task", "Quarterly access review", "To Do", "bob", "Medium", labels=("compliance",)),
    Row("Bug", "XSS in the search box", "Done", "carol", "High", labels=("security", "bug")),
    Row("Task", "Pen test follow-ups", "To Do", None, "High", labels=("security",)),
    Row("Story", "Single sign-on for the admin console", "To Do", "alice", "Medium", 8, labels=("sso",)),
    Row("Task", "Secrets scanning in CI", "Done", "bob", "Medium", labels=("ci", "security")),
    Row("Bug", "Verbose errors leak stack traces", "In Review", "carol", "High", labels=("security", "bug")),
    Row("Task", "Security training for new hires", "To Do", None, None, labels=("training",), reporter=None),
]

COMMENTS = {
    "DEMO-2": [("bob", "Implemented with the provider's vault API."), ("alice", "Looks good, merging.")],
    "DEMO-6": [("carol", "Blocked until the balance endpoint is done."),
               ("bob", "Endpoint is in review: see the *Orders Service* page."),
               ("alice", "Let's demo this on Friday.")],
    "DEMO-9": [("carol", "Reproduced with EUR orders.\n\nThe template hard-codes USD.")],
    "DEMO-20": [("bob", "Off-by-one in the page count.")],
    "OPS-2": [("bob", "Half of the runners are moved."), ("carol", "The rest need the new image.")],
    "SEC-1": [("alice", "Fix is ready, waiting on review.")],
}


def _desc(row: Row, key: str, n: int) -> str | None:
    if n % 7 == 3:
        return None
    return (
        f"h2. Goal\n{row.summary}.\n\nh3. Acceptance criteria\n* It works for *all* users\n"
        f"* It is covered by tests\n\nTracked as {key}; see {{{{code}}}} notes in the repo."
    )


def _project(store: Store, key: str, name: str, pid: str, lead: str, style: str, now: datetime) -> Project:
    project = Project(id=pid, key=key, name=name, lead=lead, style=style, components=["Backend", "Frontend"])
    project.versions = [
        Version(f"{pid}1", "1.0", True, (now - timedelta(days=30)).date().isoformat()),
        Version(f"{pid}2", "1.1", False, (now + timedelta(days=14)).date().isoformat()),
        Version(f"{pid}3", "2.0", False, None),
    ]
    store.projects[key] = project
    return project


def _issues(store: Store, project: Project, rows: list[Row], sprints: list[Sprint], now: datetime) -> None:
    for n, row in enumerate(rows, start=1):
        key = f"{project.key}-{n}"
        created = now - timedelta(days=(45 - n * 3) % 40 + 1, hours=n)
        updated = min(now, created + timedelta(days=n % 5, hours=2))
        issue = Issue(
            id=int(project.id) + n,
            key=key,
            project=project.key,
            summary=row.summary,
            issuetype=row.type,
            status=row.status,
            created=created,
            updated=updated,
            description=_desc(row, key, n),
            priority=row.priority,
            assignee=row.assignee,
            reporter=row.reporter,
            resolutiondate=updated if STATUSES[row.status].category_key == "done" else None,
            labels=list(row.labels),
            components=list(row.components),
            fix_versions=list(row.fix),
            story_points=row.points,
            sprint_ids=[sprints[row.sprint].id] if row.sprint is not None and sprints else [],
            parent=f"{project.key}-{row.parent}" if row.parent else None,
        )
        if row.status != "To Do":
            issue.changelog.append(
                Change(str(issue.id * 10), row.assignee or "alice", created + timedelta(hours=1),
                       [ChangeItem("status", "To Do", row.status)])
            )
        for m, (author, body) in enumerate(COMMENTS.get(key, [])):
            moment = created + timedelta(hours=3 + m)
            issue.comments.append(Comment(str(issue.id * 10 + m), author, body, moment, moment))
        if row.status in ("Done", "In Review") and row.assignee:
            issue.worklogs.append(
                Worklog(str(issue.id * 10), row.assignee, "Implementation", created + timedelta(hours=4),
                        3 * 3600 + 1800, created + timedelta(hours=8))
            )
        project.issue_counter = n
        store.issues[key] = issue


def populate(store: Store, now: datetime, confluence_base: str, pages: dict[str, str]) -> None:
    demo = _project(store, "DEMO", "Demo Project", "10000", "alice", "scrum", now)
    ops = _project(store, "OPS", "Operations", "10100", "bob", "kanban", now)
    sec = _project(store, "SEC", "Security", "10200", "alice", "kanban", now)
    for board in (Board(1, "DEMO board", "scrum", "DEMO"), Board(2, "OPS board", "kanban", "OPS"),
                  Board(3, "SEC board", "kanban", "SEC")):
        store.boards[board.id] = board
    sprints = [
        Sprint(1, "DEMO Sprint 1", "closed", 1, "Saved cards", now - timedelta(days=24),
               now - timedelta(days=10), now - timedelta(days=10)),
        Sprint(2, "DEMO Sprint 2", "active", 1, "Gift cards and refunds", now - timedelta(days=9),
               now + timedelta(days=5)),
        Sprint(3, "DEMO Sprint 3", "future", 1, ""),
    ]
    for sprint in sprints:
        store.sprints[sprint.id] = sprint
    _issues(store, demo, DEMO_ROWS, sprints, now)
    _issues(store, ops, OPS_ROWS, [], now)
    _issues(store, sec, SEC_ROWS, [], now)
    store.links.extend([
        IssueLink("10500", "Blocks", "DEMO-6", "DEMO-10"),
        IssueLink("10501", "Relates", "DEMO-9", "DEMO-7"),
        IssueLink("10502", "Blocks", "DEMO-21", "OPS-10"),
    ])
    _remote_links(store, confluence_base, pages)


def _remote_links(store: Store, confluence_base: str, pages: dict[str, str]) -> None:
    arch, deploy, faq = pages["Architecture Overview"], pages["Deployment Guide"], pages["Checkout FAQ"]
    links = {
        "DEMO-2": [
            RemoteLink(10600, f"{confluence_base}/pages/viewpage.action?pageId={arch}", "Architecture Overview",
                       "mentioned in", f"appId=sandbox&pageId={arch}",
                       application={"type": "com.atlassian.confluence", "name": "Confluence"}),
            RemoteLink(10601, "https://github.com/example/platform/pull/42", "PR #42: saved cards", "implements"),
        ],
        "DEMO-6": [
            RemoteLink(10602, f"{confluence_base}/spaces/DOCS/pages/{faq}/Checkout+FAQ", "Checkout FAQ",
                       "mentioned in", f"appId=sandbox&pageId={faq}",
                       application={"type": "com.atlassian.confluence", "name": "Confluence"}),
            RemoteLink(10603, "https://gitlab.com/example/storefront/-/merge_requests/7", "MR !7: gift cards"),
        ],
        "OPS-2": [
            RemoteLink(10604, f"{confluence_base}/pages/viewpage.action?pageId={deploy}", "Deployment Guide",
                       "wiki page", f"appId=sandbox&pageId={deploy}",
                       application={"type": "com.atlassian.confluence", "name": "Confluence"}),
            RemoteLink(10605, "https://github.com/example/infra/issues/9", "infra#9"),
        ],
    }
    for key, found in links.items():
        store.issues[key].remote_links.extend(found)
    store.issues["DEMO-9"].description = (
        "Emails use USD for every order.\n\nSee [Orders Service|"
        f"{confluence_base}/pages/viewpage.action?pageId={pages['Orders Service']}] and "
        "https://github.com/example/platform/blob/main/emails/confirm.py"
    )
