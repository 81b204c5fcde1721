"""The sandbox's in-memory state: plain records, mutated by the route handlers.

All handlers run on one event loop and never await while changing state, so no lock is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Comment:
    id: str
    author: str | None
    body: str
    created: datetime
    updated: datetime


@dataclass
class Worklog:
    id: str
    author: str
    comment: str
    started: datetime
    seconds: int
    created: datetime


@dataclass
class RemoteLink:
    id: int
    url: str
    title: str
    relationship: str | None = None
    global_id: str | None = None
    summary: str | None = None
    application: dict[str, str] = field(default_factory=dict)


@dataclass
class ChangeItem:
    field: str
    from_string: str | None
    to_string: str | None


@dataclass
class Change:
    id: str
    author: str | None
    created: datetime
    items: list[ChangeItem]


@dataclass
class Issue:
    id: int
    key: str
    project: str
    summary: str
    issuetype: str
    status: str
    created: datetime
    updated: datetime
    description: str | None = None
    priority: str | None = "Medium"
    assignee: str | None = None
    reporter: str | None = None
    resolutiondate: datetime | None = None
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    fix_versions: list[str] = field(default_factory=list)
    story_points: float | None = None
    sprint_ids: list[int] = field(default_factory=list)
    parent: str | None = None
    comments: list[Comment] = field(default_factory=list)
    worklogs: list[Worklog] = field(default_factory=list)
    remote_links: list[RemoteLink] = field(default_factory=list)
    changelog: list[Change] = field(default_factory=list)


@dataclass
class IssueLink:
    id: str
    type_name: str
    inward: str  # key of the issue that "is blocked by" etc.
    outward: str  # key of the issue that "blocks" etc.


@dataclass
class Version:
    id: str
    name: str
    released: bool
    release_date: str | None
    archived: bool = False
    description: str = ""


@dataclass
class Project:
    id: str
    key: str
    name: str
    lead: str
    style: str  # "scrum" | "kanban" (board type of its board)
    versions: list[Version] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    issue_counter: int = 0


@dataclass
class Board:
    id: int
    name: str
    type: str
    project: str


@dataclass
class Sprint:
    id: int
    name: str
    state: str  # closed | active | future
    board_id: int
    goal: str = ""
    start: datetime | None = None
    end: datetime | None = None
    complete: datetime | None = None


@dataclass
class Space:
    id: int
    key: str
    name: str
    description: str = ""
    homepage_id: str | None = None


@dataclass
class ContentVersion:
    number: int
    title: str
    body: str
    by: str
    when: datetime
    message: str = ""
    minor_edit: bool = False


@dataclass
class Content:
    """A Confluence page or comment; `parent_id` is the parent page, or a comment's container."""

    id: str
    type: str  # page | comment
    space: str
    parent_id: str | None
    versions: list[ContentVersion]
    labels: list[str] = field(default_factory=list)
    status: str = "current"
    position: int = 0

    @property
    def latest(self) -> ContentVersion:
        return self.versions[-1]

    @property
    def title(self) -> str:
        return self.latest.title

    @property
    def body(self) -> str:
        return self.latest.body

    @property
    def created(self) -> datetime:
        return self.versions[0].when

    @property
    def creator(self) -> str:
        return self.versions[0].by

    @property
    def modified(self) -> datetime:
        return self.latest.when


@dataclass
class Store:
    now: datetime
    projects: dict[str, Project] = field(default_factory=dict)
    issues: dict[str, Issue] = field(default_factory=dict)
    links: list[IssueLink] = field(default_factory=list)
    boards: dict[int, Board] = field(default_factory=dict)
    sprints: dict[int, Sprint] = field(default_factory=dict)
    spaces: dict[str, Space] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)
    next_id: int = 100000

    def new_id(self) -> int:
        """A fresh numeric id shared by every kind of record (like Atlassian's, never reused)."""
        self.next_id += 1
        return self.next_id

    def issue_by_id_or_key(self, ref: str) -> Issue | None:
        found = self.issues.get(ref.upper())
        if found is not None:
            return found
        return next((i for i in self.issues.values() if str(i.id) == ref), None)

    def project_by_id_or_key(self, ref: str) -> Project | None:
        found = self.projects.get(ref.upper())
        if found is not None:
            return found
        return next((p for p in self.projects.values() if p.id == ref), None)

    def sprints_of(self, board_id: int) -> list[Sprint]:
        return [s for s in self.sprints.values() if s.board_id == board_id]

    def subtasks_of(self, key: str) -> list[Issue]:
        return [i for i in self.issues.values() if i.parent == key and i.issuetype == "Sub-task"]

    def children(self, parent_id: str, content_type: str) -> list[Content]:
        found = [
            c
            for c in self.contents.values()
            if c.parent_id == parent_id and c.type == content_type and c.status == "current"
        ]
        return sorted(found, key=lambda c: (c.position, int(c.id)))

    def ancestors(self, content: Content) -> list[Content]:
        """Root first, like Confluence's `ancestors`."""
        chain: list[Content] = []
        parent = self.contents.get(content.parent_id) if content.parent_id else None
        while parent is not None:
            chain.append(parent)
            parent = self.contents.get(parent.parent_id) if parent.parent_id else None
        return list(reversed(chain))
