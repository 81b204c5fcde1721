"""Changing Jira issues: field edits, `update` operations, comments, and the changelog they leave."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from atlassian_sandbox import adf
from atlassian_sandbox.catalog import PRIORITIES, STORY_POINTS_FIELD
from atlassian_sandbox.context import sandbox_of, user_of
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.jira_access import jira_of, user_ref
from atlassian_sandbox.store import Change, ChangeItem, Comment, Issue


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def text_value(request: Request, value: Any, field: str) -> str | None:
    """A rich-text input: a string on v2, an ADF document on v3."""
    if jira_of(request).api == "3":
        try:
            return adf.to_text(value)
        except ValueError as exc:
            raise ApiError(400, errors={field: str(exc)}) from exc
    if value is not None and not isinstance(value, str):
        raise ApiError(400, errors={field: "Operation value must be a string"})
    return value


def named(value: Any, table: dict[str, str], field: str, label: str) -> str:
    """A `{"name": ..}` or `{"id": ..}` reference into a name -> id table."""
    if isinstance(value, dict):
        if value.get("name") in table:
            return str(value["name"])
        by_id = {v: k for k, v in table.items()}
        if str(value.get("id")) in by_id:
            return by_id[str(value["id"])]
    raise ApiError(400, errors={field: f"The {label} selected is invalid."})


Setter = Callable[[Request, Issue, Any], tuple[Any, Any]]


def _summary(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, errors={"summary": "You must specify a summary of the issue."})
    before, issue.summary = issue.summary, value
    return before, value


def _description(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
    before, issue.description = issue.description, text_value(request, value, "description")
    return before, issue.description


def _priority(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
    before = issue.priority
    issue.priority = None if value is None else named(value, PRIORITIES, "priority", "priority")
    return before, issue.priority


def _person(name: str) -> Setter:
    def setter(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
        before, after = getattr(issue, name), user_ref(request, value, name)
        setattr(issue, name, after)
        return before, after

    return setter


def _labels(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v and " " not in v for v in value):
        raise ApiError(400, errors={"labels": "Labels must be a list of strings without spaces."})
    before, issue.labels = " ".join(issue.labels), list(value)
    return before, " ".join(value)


def _named_list(field: str) -> Setter:
    """components / fixVersions: a list of `{"name": ..}` that must exist in the project."""

    def setter(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
        project = sandbox_of(request).store.projects[issue.project]
        known = project.components if field == "components" else [v.name for v in project.versions]
        names = [v.get("name") for v in value if isinstance(v, dict)] if isinstance(value, list) else []
        bad = [n for n in names if n not in known]
        if not isinstance(value, list) or bad or len(names) != len(value):
            raise ApiError(400, errors={field: f"Value '{bad[0] if bad else value}' is not valid."})
        attr = "components" if field == "components" else "fix_versions"
        before = ", ".join(getattr(issue, attr))
        setattr(issue, attr, [str(n) for n in names])
        return before, ", ".join(str(n) for n in names)

    return setter


def _story_points(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ApiError(400, errors={STORY_POINTS_FIELD: "Operation value must be a number"})
    before, issue.story_points = issue.story_points, None if value is None else float(value)
    return before, issue.story_points


def _parent(request: Request, issue: Issue, value: Any) -> tuple[Any, Any]:
    ref = value.get("key") or value.get("id") if isinstance(value, dict) else None
    parent = sandbox_of(request).store.issue_by_id_or_key(str(ref)) if ref else None
    if parent is None or parent.project != issue.project or parent.key == issue.key:
        raise ApiError(400, errors={"parent": "Could not find the parent issue."})
    before, issue.parent = issue.parent, parent.key
    return before, parent.key


SETTERS: dict[str, Setter] = {
    "summary": _summary,
    "description": _description,
    "priority": _priority,
    "assignee": _person("assignee"),
    "reporter": _person("reporter"),
    "labels": _labels,
    "components": _named_list("components"),
    "fixVersions": _named_list("fixVersions"),
    STORY_POINTS_FIELD: _story_points,
    "parent": _parent,
}


def set_field(request: Request, issue: Issue, name: str, value: Any, changes: list[ChangeItem]) -> None:
    """Set one editable field, noting the change; 400 like Jira for unknown or read-only fields."""
    setter = SETTERS.get(name)
    if setter is None:
        raise ApiError(
            400, errors={name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."}
        )
    before, after = setter(request, issue, value)
    if before != after:
        changes.append(ChangeItem(name, None if before is None else str(before),
                                  None if after is None else str(after)))


@contextmanager
def editing(request: Request, issue: Issue) -> Iterator[Issue]:
    """A draft of `issue` that replaces it only if the block succeeds: Jira applies all of an edit or none.

    The draft copies the stored issue as it is now (another request may have changed it while this one
    read its body), and the block must not await, so no other change can slip in between.
    """
    store = sandbox_of(request).store
    current = store.issues.get(issue.key)
    if current is None:
        raise ApiError(404, "Issue does not exist or you do not have permission to see it.")
    draft = copy.deepcopy(current)
    yield draft
    store.issues[issue.key] = draft


def apply_update_ops(request: Request, issue: Issue, update: Any, changes: list[ChangeItem]) -> None:
    """The `update` form: {"labels": [{"add": "x"}, {"remove": "y"}], "comment": [{"add": {"body": ..}}]}."""
    if not isinstance(update, dict):
        raise ApiError(400, "The 'update' value must be an object.")
    for name, ops in update.items():
        if not isinstance(ops, list):
            raise ApiError(400, errors={name: "Operations must be a list."})
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1:
                raise ApiError(400, errors={name: "Each operation must have exactly one verb."})
            verb, arg = next(iter(op.items()))
            if name == "comment" and verb == "add":
                append_comment(request, issue, arg.get("body") if isinstance(arg, dict) else None)
            elif name == "labels" and verb in ("add", "remove", "set"):
                labels = list(issue.labels)
                if verb == "add" and arg not in labels:
                    labels.append(arg)
                elif verb == "remove":
                    labels = [label for label in labels if label != arg]
                set_field(request, issue, "labels", arg if verb == "set" else labels, changes)
            elif verb == "set":
                set_field(request, issue, name, arg, changes)
            else:
                raise ApiError(400, errors={name: f"Operation '{verb}' is not supported for this field."})


def apply_body(
    request: Request, issue: Issue, body: dict[str, Any], changes: list[ChangeItem], skip: tuple[str, ...] = ()
) -> None:
    """An edit body's `fields` (set) and `update` (operations), in that order."""
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise ApiError(400, "The 'fields' value must be an object.")
    for name, value in fields.items():
        if name not in skip:
            set_field(request, issue, name, value, changes)
    if "update" in body:
        apply_update_ops(request, issue, body["update"], changes)


def record(request: Request, issue: Issue, changes: list[ChangeItem]) -> None:
    moment = now()
    issue.updated = moment
    if changes:
        change_id = str(sandbox_of(request).store.new_id())
        issue.changelog.append(Change(change_id, user_of(request).name, moment, changes))


def append_comment(request: Request, issue: Issue, raw: Any) -> Comment:
    body = text_value(request, raw, "comment")
    if not body or not body.strip():
        raise ApiError(400, errors={"comment": "Comment body can not be empty!"})
    moment = now()
    comment = Comment(str(sandbox_of(request).store.new_id()), user_of(request).name, body, moment, moment)
    issue.comments.append(comment)
    issue.updated = moment
    return comment
