"""A CQL subset evaluated over Confluence content, with Confluence's 400 for what it cannot parse."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

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
from atlassian_sandbox.store import Content, Store

Predicate = Callable[[Content], bool]
CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
TAG = re.compile(r"<[^>]+>")


class CqlError(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def plain_text(storage: str) -> str:
    """The words of a storage-format body (code macro bodies included), for `text ~`."""
    return html.unescape(TAG.sub(" ", CDATA.sub(lambda m: m.group(1), storage)))


def _user_aliases(name: str) -> set[str]:
    user = USERS.get(name)
    return set() if user is None else {user.name, user.account_id, user.email.lower(), user.key}


READERS: dict[str, tuple[str, Callable[[Content, Store], Any]]] = {
    # name: (kind, reader) -- kinds: alias (set of strings), text, date
    "type": ("alias", lambda c, s: {c.type}),
    "space": ("alias", lambda c, s: {c.space.lower()}),
    "space.key": ("alias", lambda c, s: {c.space.lower()}),
    "id": ("alias", lambda c, s: {c.id}),
    "content": ("alias", lambda c, s: {c.id}),
    "parent": ("alias", lambda c, s: {c.parent_id} if c.parent_id else None),
    "ancestor": ("alias", lambda c, s: {a.id for a in s.ancestors(c)} or None),
    "label": ("multi", lambda c, s: {label.lower() for label in c.labels} or None),
    "creator": ("alias", lambda c, s: _user_aliases(c.creator)),
    "contributor": ("multi", lambda c, s: {a for v in c.versions for a in _user_aliases(v.by)}),
    "title": ("text", lambda c, s: c.title),
    "text": ("text", lambda c, s: c.title + "\n" + plain_text(c.body)),
    "sitesearch": ("text", lambda c, s: c.title + "\n" + plain_text(c.body)),
    "created": ("date", lambda c, s: c.created),
    "lastmodified": ("date", lambda c, s: c.modified),
}
SORTS: dict[str, Callable[[Content], Any]] = {
    "title": lambda c: c.title.lower(),
    "created": lambda c: c.created,
    "lastmodified": lambda c: c.modified,
    "id": lambda c: int(c.id),
    "type": lambda c: c.type,
    "space": lambda c: c.space,
}


class Compiler:
    def __init__(self, store: Store, user: User, now: datetime) -> None:
        self.store = store
        self.user = user
        self.now = now

    def node(self, node: Node) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.node(p) for p in node.parts]
            return (lambda c: all(p(c) for p in parts)) if node.op == "and" else (lambda c: any(p(c) for p in parts))
        if isinstance(node, Not):
            inner = self.node(node.inner)
            return lambda c: not inner(c)
        return self.clause(node)

    def value(self, value: Value) -> str:
        if value.function == "currentuser":
            return self.user.name
        if value.function is not None:
            raise CqlError(f"Could not find function : {value.text}")
        return value.text.lower()

    def clause(self, clause: Clause) -> Predicate:
        name = clause.field.lower()
        if name not in READERS:
            raise CqlError(f"Could not parse cql : unsupported field '{clause.field}'")
        kind, read = READERS[name]
        store = self.store
        op = clause.op
        if op in ("is", "is not"):
            want_empty = op == "is"
            return lambda c: (not read(c, store)) == want_empty
        if kind == "text":
            if op in ("~", "!~"):
                needle = clause.values[0].text
                return lambda c: contains_terms(read(c, store), needle) != (op == "!~")
            if op in ("=", "!=", "in", "not in"):
                wanted = {v.text.lower() for v in clause.values}
                positive = op in ("=", "in")
                return lambda c: (read(c, store).lower() in wanted) == positive
        elif kind == "date":
            if op in ("=", "!=", "<", "<=", ">", ">="):
                limit = moment(clause.values[0], self.now)
                if limit is None:
                    raise CqlError(f"Could not parse cql : invalid date '{clause.values[0].text}'")
                return lambda c: compare(op, read(c, store), limit)
        elif op in ("=", "!=", "in", "not in"):
            wanted = set()
            for v in clause.values:
                text = self.value(v)
                wanted |= _user_aliases(text) if name in ("creator", "contributor") and text in USERS else {text}
            positive = op in ("=", "in")
            return lambda c: bool((read(c, store) or set()) & wanted) == positive
        raise CqlError(f"Could not parse cql : operator '{op}' is not supported for field '{clause.field}'")


def _ordered(found: list[Content], keys: list[SortKey]) -> list[Content]:
    for key in reversed(keys):
        sort = SORTS.get(key.field.lower())
        if sort is None:
            raise CqlError(f"Could not parse cql : cannot order by '{key.field}'")
        found = sorted(found, key=sort, reverse=key.descending)
    return found


def search(store: Store, text: str, user: User, now: datetime) -> list[Content]:
    """Current content matching the CQL, in its ORDER BY (else newest first); CqlError (400) otherwise."""
    if not text.strip():
        raise CqlError("CQL query parameter is required but was not provided")
    try:
        query = parse(text)
    except QueryError as exc:
        raise CqlError(f"Could not parse cql : {text}") from exc
    if query.where is None:
        raise CqlError(f"Could not parse cql : {text}")
    predicate = Compiler(store, user, now).node(query.where)
    found = [c for c in store.contents.values() if c.status == "current" and predicate(c)]
    return _ordered(found, query.order or [SortKey("lastmodified", True)])
