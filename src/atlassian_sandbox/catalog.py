"""Jira's fixed metadata in the sandbox: statuses, issue types, priorities, fields, link types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

STORY_POINTS_FIELD = "customfield_10016"
SPRINT_FIELD = "customfield_10020"


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category_id: int
    category_key: str
    category_name: str
    color: str


STATUSES: dict[str, Status] = {
    s.name: s
    for s in (
        Status("10000", "To Do", 2, "new", "To Do", "blue-gray"),
        Status("3", "In Progress", 4, "indeterminate", "In Progress", "yellow"),
        Status("10001", "In Review", 4, "indeterminate", "In Progress", "yellow"),
        Status("10002", "Done", 3, "done", "Done", "green"),
    )
}

# Every status can move to every other one; the transition id is the same for each target.
TRANSITION_IDS: dict[str, str] = {"To Do": "11", "In Progress": "21", "In Review": "31", "Done": "41"}


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    subtask: bool
    hierarchy: int
    description: str


ISSUE_TYPES: dict[str, IssueType] = {
    t.name: t
    for t in (
        IssueType("10000", "Epic", False, 1, "A big user story that needs to be broken down."),
        IssueType("10001", "Story", False, 0, "Functionality or a feature expressed as a user goal."),
        IssueType("10002", "Task", False, 0, "A small, distinct piece of work."),
        IssueType("10003", "Sub-task", True, -1, "A small piece of work that's part of a larger task."),
        IssueType("10004", "Bug", False, 0, "A problem or error."),
    )
}

PRIORITIES: dict[str, str] = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}


@dataclass(frozen=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


LINK_TYPES: dict[str, LinkType] = {
    t.name: t
    for t in (
        LinkType("10000", "Blocks", "is blocked by", "blocks"),
        LinkType("10001", "Cloners", "is cloned by", "clones"),
        LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
        LinkType("10003", "Relates", "relates to", "relates to"),
    )
}


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    schema: dict[str, Any]
    required_on_create: bool = False
    clause_names: tuple[str, ...] = ()

    @property
    def custom(self) -> bool:
        return self.id.startswith("customfield_")


FIELDS: tuple[FieldDef, ...] = (
    FieldDef("summary", "Summary", {"type": "string", "system": "summary"}, True, ("summary",)),
    FieldDef("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, True, ("issuetype", "type")),
    FieldDef("project", "Project", {"type": "project", "system": "project"}, True, ("project",)),
    FieldDef("description", "Description", {"type": "string", "system": "description"}, False, ("description",)),
    FieldDef("status", "Status", {"type": "status", "system": "status"}, False, ("status",)),
    FieldDef("priority", "Priority", {"type": "priority", "system": "priority"}, False, ("priority",)),
    FieldDef("assignee", "Assignee", {"type": "user", "system": "assignee"}, False, ("assignee",)),
    FieldDef("reporter", "Reporter", {"type": "user", "system": "reporter"}, False, ("reporter",)),
    FieldDef("created", "Created", {"type": "datetime", "system": "created"}, False, ("created", "createdDate")),
    FieldDef("updated", "Updated", {"type": "datetime", "system": "updated"}, False, ("updated", "updatedDate")),
    FieldDef(
        "resolutiondate", "Resolved", {"type": "datetime", "system": "resolutiondate"}, False,
        ("resolutiondate", "resolved"),
    ),
    FieldDef("resolution", "Resolution", {"type": "resolution", "system": "resolution"}, False, ("resolution",)),
    FieldDef("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}, False, ("labels",)),
    FieldDef(
        "components", "Components", {"type": "array", "items": "component", "system": "components"}, False,
        ("component",),
    ),
    FieldDef(
        "fixVersions", "Fix Version/s", {"type": "array", "items": "version", "system": "fixVersions"}, False,
        ("fixVersion",),
    ),
    FieldDef("comment", "Comment", {"type": "comments-page", "system": "comment"}, False, ("comment",)),
    FieldDef("parent", "Parent", {"type": "issuelink", "system": "parent"}, False, ("parent",)),
    FieldDef(
        "subtasks", "Sub-tasks", {"type": "array", "items": "issuelinks", "system": "subtasks"}, False,
        ("subtasks",),
    ),
    FieldDef(
        "issuelinks", "Linked Issues", {"type": "array", "items": "issuelinks", "system": "issuelinks"}, False,
        ("issueLink",),
    ),
    FieldDef("worklog", "Log Work", {"type": "array", "items": "worklog", "system": "worklog"}, False, ()),
    FieldDef(
        STORY_POINTS_FIELD,
        "Story Points",
        {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float", "customId": 10016},
        False,
        ("cf[10016]", "Story Points"),
    ),
    FieldDef(
        SPRINT_FIELD,
        "Sprint",
        {
            "type": "array",
            "items": "json",
            "custom": "com.pyxis.greenhopper.jira:gh-sprint",
            "customId": 10020,
        },
        False,
        ("cf[10020]", "Sprint", "sprint"),
    ),
)
FIELD_IDS = {f.id for f in FIELDS}


def jira_time(moment: datetime | None) -> str | None:
    """Jira's timestamp format, e.g. 2024-01-15T10:30:00.000+0000."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def confluence_time(moment: datetime) -> str:
    """Confluence's timestamp format, e.g. 2024-01-15T10:30:00.000Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
