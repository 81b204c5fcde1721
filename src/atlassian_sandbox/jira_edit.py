"""Changing Jira issues: field edits, `update` operations, comments, and the changelog they leave."""

from __future__ import annotations

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


def set_field(request: Request, issue: Issue, name: str, value: Any, changes: list[ChangeItem]) -> None:
    before: Any
    after: Any
    if name == "summary":
        if not isinstance(value, str) or not value.strip():
            raise ApiError(400, errors={"summary": "You must specify a summary of the issue."})
        before, issue.summary = issue.summary, value
        after = value
    elif name == "description":
        before, issue.description = issue.description, text_value(request, value, "description")
        after = issue.description
    elif name == "priority":
        before = issue.priority
        issue.priority = None if value is None else named(value, PRIORITIES, "priority", "priority")
        after = issue.priority
    elif name in ("assignee", "reporter"):
        before = getattr(issue, name)
        after = user_ref(request, value, name)
        setattr(issue, name, after)
    elif name == "labels":
        if not isinstance(value, list) or not all(isinstance(v, str) and " " not in v for v in value):
            raise ApiError(400, errors={"labels": "Labels must be a list of strings without spaces."})
        before, issue.labels = " ".join(issue.labels), list(value)
        after = " ".join(value)
    elif name in ("components", "fixVersions"):
        project = sandbox_of(request).store.projects[issue.project]
        known = project.components if name == "components" else [v.name for v in project.versions]
        if not isinstance(value, list):
            raise ApiError(400, errors={name: "Expected a list."})
        names = [v.get("name") for v in value if isinstance(v, dict)]
        unknown = [n for n in names if n not in known]
        if unknown or len(names) != len(value):
            raise ApiError(400, errors={name: f"Value '{unknown[0] if unknown else value}' is not valid."})
        attr = "components" if name == "components" else "fix_versions"
        before = ", ".join(getattr(issue, attr))
        setattr(issue, attr, [str(n) for n in names])
        after = ", ".join(str(n) for n in names)
    elif name == STORY_POINTS_FIELD:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ApiError(400, errors={name: "Operation value must be a number"})
        before, issue.story_points = issue.story_points, None if value is None else float(value)
        after = value
    elif name == "parent":
        ref = value.get("key") or value.get("id") if isinstance(value, dict) else None
        parent = sandbox_of(request).store.issue_by_id_or_key(str(ref)) if ref else None
        if parent is None or parent.project != issue.project:
            raise ApiError(400, errors={"parent": "Could not find the parent issue."})
        before, issue.parent = issue.parent, parent.key
        after = parent.key
    else:
        raise ApiError(
            400, errors={name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."}
        )
    if before != after:
        changes.append(ChangeItem(name, None if before is None else str(before),
                                  None if after is None else str(after)))


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
