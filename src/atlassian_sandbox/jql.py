"""A JQL subset evaluated over the store's issues, with Jira's error messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atlassian_sandbox.catalog import ISSUE_TYPES, PRIORITIES, STATUSES
from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.query import (
    BoolOp,
    Clause,
    Node,
    Not,
    QueryError,
    SortKey,
    Value,
    compare,
    contains_terms,
    moment,
    parse,
)
from atlassian_sandbox.seed import USERS, User
from atlassian_sandbox.store import Issue, Store

Predicate = Callable[[Issue], bool]


class JqlError(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


@dataclass(frozen=True)
class Field:
    """How one JQL field reads an issue: `kind` picks the operators it supports."""

    name: str
    kind: str  # alias | multi | text | date | number
    read: Callable[[Issue, Store], Any]
    known: Callable[[Store], set[str]] | None = None  # valid values (lower-case) to reject unknown ones


def _user_aliases(name: str | None) -> set[str] | None:
    user = USERS.get(name) if name else None
    if user is None:
        return None
    return {a.lower() for a in (user.name, user.account_id, user.email, user.display_name)}


def _all_users(_: Store) -> set[str]:
    return {a for u in USERS for a in (_user_aliases(u) or set())}


def _issue_text(issue: Issue) -> str:
    return "\n".join([issue.summary, issue.description or "", *(c.body for c in issue.comments)])


def _sprints(issue: Issue, store: Store) -> list[set[str]]:
    found = [store.sprints[s] for s in issue.sprint_ids if s in store.sprints]
    return [{str(s.id), s.name.lower()} for s in found]


FIELDS: dict[str, Field] = {}
for _field in (
    Field("project", "alias", lambda i, s: {i.project.lower(), s.projects[i.project].name.lower(),
                                            s.projects[i.project].id},
          lambda s: {v for p in s.projects.values() for v in (p.key.lower(), p.name.lower(), p.id)}),
    Field("key", "alias", lambda i, s: {i.key.lower(), str(i.id)}),
    Field("status", "alias", lambda i, s: {i.status.lower(), STATUSES[i.status].id},
          lambda s: {v for st in STATUSES.values() for v in (st.name.lower(), st.id)}),
    Field("statuscategory", "alias",
          lambda i, s: {STATUSES[i.status].category_name.lower(), STATUSES[i.status].category_key,
                        str(STATUSES[i.status].category_id)},
          lambda s: {v for st in STATUSES.values()
                     for v in (st.category_name.lower(), st.category_key, str(st.category_id))}),
    Field("assignee", "alias", lambda i, s: _user_aliases(i.assignee), _all_users),
    Field("reporter", "alias", lambda i, s: _user_aliases(i.reporter), _all_users),
    Field("issuetype", "alias", lambda i, s: {i.issuetype.lower(), ISSUE_TYPES[i.issuetype].id},
          lambda s: {v for t in ISSUE_TYPES.values() for v in (t.name.lower(), t.id)}),
    Field("priority", "alias", lambda i, s: {i.priority.lower(), PRIORITIES[i.priority]} if i.priority else None,
          lambda s: {v for name, pid in PRIORITIES.items() for v in (name.lower(), pid)}),
    Field("resolution", "alias", lambda i, s: {"done"} if i.resolutiondate else None),
    Field("parent", "alias", lambda i, s: {i.parent.lower()} if i.parent else None),
    Field("labels", "multi", lambda i, s: [{label.lower()} for label in i.labels]),
    Field("component", "multi", lambda i, s: [{c.lower()} for c in i.components]),
    Field("fixversion", "multi", lambda i, s: [{v.lower()} for v in i.fix_versions]),
    Field("sprint", "multi", _sprints),
    Field("text", "text", lambda i, s: _issue_text(i)),
    Field("summary", "text", lambda i, s: i.summary),
    Field("description", "text", lambda i, s: i.description),
    Field("comment", "text", lambda i, s: "\n".join(c.body for c in i.comments) or None),
    Field("created", "date", lambda i, s: i.created),
    Field("updated", "date", lambda i, s: i.updated),
    Field("resolved", "date", lambda i, s: i.resolutiondate),
    Field("story points", "number", lambda i, s: i.story_points),
):
    FIELDS[_field.name] = _field
ALIASES = {
    "type": "issuetype", "issuekey": "key", "issue": "key", "id": "key", "resolutiondate": "resolved",
    "createddate": "created", "updateddate": "updated", "cf[10016]": "story points",
    "customfield_10016": "story points", "story point estimate": "story points", "cf[10020]": "sprint",
    "customfield_10020": "sprint", "fixversions": "fixversion", "components": "component", "label": "labels",
}
SORTABLE = {"key", "project", "status", "statuscategory", "assignee", "reporter", "issuetype", "priority",
            "summary", "created", "updated", "resolved", "story points", "rank", "id"}


def field_of(name: str) -> Field:
    lowered = name.lower()
    found = FIELDS.get(ALIASES.get(lowered, lowered))
    if found is None:
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
    return found


class Compiler:
    def __init__(self, store: Store, user: User, now: datetime) -> None:
        self.store = store
        self.user = user
        self.now = now

    def node(self, node: Node) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.node(p) for p in node.parts]
            if node.op == "and":
                return lambda i: all(p(i) for p in parts)
            return lambda i: any(p(i) for p in parts)
        if isinstance(node, Not):
            inner = self.node(node.inner)
            return lambda i: not inner(i)
        return self.clause(node)

    def aliases(self, field: Field, value: Value) -> set[str]:
        """What a value may equal: currentUser() and sprint functions expand; names are checked."""
        if value.function == "currentuser":
            return _user_aliases(self.user.name) or set()
        if value.function in ("opensprints", "closedsprints", "futuresprints"):
            state = {"opensprints": "active", "closedsprints": "closed", "futuresprints": "future"}[value.function]
            return {str(s.id) for s in self.store.sprints.values() if s.state == state}
        if value.function in ("releasedversions", "unreleasedversions"):
            released = value.function == "releasedversions"
            return {v.name.lower() for p in self.store.projects.values() for v in p.versions
                    if v.released == released and (not value.args or p.key == value.args[0].upper())}
        if value.function is not None:
            raise JqlError(f"Unable to find JQL function '{value.text}({', '.join(value.args)})'.")
        text = value.text.lower()
        hidden = field.name == "project" and not any(
            self.user.sees(p.key) for p in self.store.projects.values() if text in (p.key.lower(), p.name.lower(), p.id)
        )
        if field.known is not None and (text not in field.known(self.store) or hidden):
            raise JqlError(f"The value '{value.text}' does not exist for the field '{field.name}'.")
        return {text}

    def clause(self, clause: Clause) -> Predicate:
        field = field_of(clause.field)
        store = self.store
        op = clause.op
        values = clause.values
        if op in ("is", "is not") or (op in ("=", "!=") and values[0].is_empty):
            want_empty = op in ("is", "=")
            return lambda i: _is_empty(field.read(i, store)) == want_empty
        if field.name == "resolution" and op in ("=", "!=") and values[0].text.lower() == "unresolved":
            want_empty = op == "="
            return lambda i: _is_empty(field.read(i, store)) == want_empty
        if field.kind in ("alias", "multi"):
            return self.equality(field, clause)
        if field.kind == "text":
            if op not in ("~", "!~"):
                raise JqlError(f"The operator '{op}' is not supported by the '{clause.field}' field.")
            needle = values[0].text
            negate = op == "!~"
            return lambda i: (field.read(i, store) is not None
                              and contains_terms(field.read(i, store), needle) != negate)
        return self.ordered(field, clause)

    def equality(self, field: Field, clause: Clause) -> Predicate:
        op = clause.op
        if op not in ("=", "!=", "in", "not in"):
            raise JqlError(f"The operator '{op}' is not supported by the '{clause.field}' field.")
        wanted: set[str] = set()
        for value in clause.values:
            wanted |= self.aliases(field, value)
        positive = op in ("=", "in")
        store = self.store

        def test(issue: Issue) -> bool:
            current = field.read(issue, store)
            if _is_empty(current):
                return False  # Jira: `assignee != bob` does not match unassigned issues either
            groups = current if field.kind == "multi" else [current]
            hit = any(group & wanted for group in groups)
            return hit if positive else not hit

        return test

    def ordered(self, field: Field, clause: Clause) -> Predicate:
        if clause.op not in ("=", "!=", "<", "<=", ">", ">=", "in", "not in"):
            raise JqlError(f"The operator '{clause.op}' is not supported by the '{clause.field}' field.")
        limits: list[Any] = []
        for value in clause.values:
            limits.append(self.date(field, value) if field.kind == "date" else self.number(field, value))
        op = {"in": "=", "not in": "!="}.get(clause.op, clause.op)
        store = self.store

        def test(issue: Issue) -> bool:
            current = field.read(issue, store)
            if current is None:
                return False
            if clause.op == "not in":
                return all(compare("!=", current, limit) for limit in limits)
            return any(compare(op, current, limit) for limit in limits)

        return test

    def date(self, field: Field, value: Value) -> datetime:
        found = moment(value, self.now)
        if found is None:
            raise JqlError(
                f"Date value '{value.text}' for field '{field.name}' is invalid. Valid formats include: "
                "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
                "e.g. '-5d', '4w 2d'."
            )
        return found

    def number(self, field: Field, value: Value) -> float:
        try:
            return float(value.text)
        except ValueError as exc:
            raise JqlError(f"The value '{value.text}' is not valid for the field '{field.name}'.") from exc


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _sort_value(name: str, issue: Issue, store: Store) -> Any:
    lowered = ALIASES.get(name.lower(), name.lower())
    if lowered not in SORTABLE:
        field_of(name)
        raise JqlError(f"Field '{name}' does not support sorting.")
    if lowered in ("key", "rank", "id"):
        return (issue.project, int(issue.key.rsplit("-", 1)[1]))
    if lowered == "priority":
        return -int(PRIORITIES[issue.priority]) if issue.priority else None
    if lowered == "status":
        return list(STATUSES).index(issue.status)
    if lowered == "statuscategory":
        return STATUSES[issue.status].category_id
    if lowered in ("assignee", "reporter"):
        user = USERS.get(getattr(issue, lowered) or "")
        return user.display_name if user else None
    if lowered == "project":
        return issue.project
    if lowered == "issuetype":
        return issue.issuetype
    return FIELDS[lowered].read(issue, store)


def order(issues: list[Issue], keys: list[SortKey], store: Store) -> list[Issue]:
    """Sort by each key (first key most significant); empty values last either way."""
    for key in reversed(keys or [SortKey("key", True)]):
        values = {i.key: _sort_value(key.field, i, store) for i in issues}
        present = sorted((i for i in issues if values[i.key] is not None), key=lambda i: values[i.key],
                         reverse=key.descending)
        issues = present + [i for i in issues if values[i.key] is None]
    return issues


def search(store: Store, text: str, user: User, now: datetime | None = None) -> list[Issue]:
    """The issues `user` may see that match `text`, in the query's order; JqlError (400) otherwise."""
    try:
        query = parse(text)
    except QueryError as exc:
        where = "" if exc.position is None else f" (line 1, character {exc.position})"
        raise JqlError(f"Error in the JQL Query: {exc.message}{where}") from exc
    compiler = Compiler(store, user, now or store.now)
    predicate = compiler.node(query.where) if query.where is not None else (lambda i: True)
    found = [i for i in store.issues.values() if user.sees(i.project) and predicate(i)]
    return order(found, query.order, store)
