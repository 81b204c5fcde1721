"""Any query text either runs or is refused with a 400-style error: the parsers never crash.

These exercise the pure parsing/evaluation functions in-process (no server is needed for that).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from atlassian_sandbox import cql, jql
from atlassian_sandbox.seed import ALICE
from atlassian_sandbox.seeding import build_store

STORE = build_store(datetime(2026, 1, 15, tzinfo=UTC), "http://sandbox/wiki")
NOW = datetime(2026, 1, 15, tzinfo=UTC)
PIECES = st.sampled_from([
    "project", "status", "assignee", "labels", "created", "text", "summary", "sprint", "type", "space", "title",
    "label", "lastmodified", "=", "!=", "~", "!~", ">=", "<", "in", "not", "is", "EMPTY", "AND", "OR", "NOT",
    "(", ")", ",", "'Done'", '"gift card"', "DEMO", "-7d", "currentUser()", "openSprints()", 'now("-7d")',
    "ORDER", "BY", "DESC", "ASC", "page", "ENG", "x", "1", "2024-01-01", "\"", "!", "-99999999999y",
    "startOfDay(\"-1d\")", "cf[10016]", "9999-12-31", "releasedVersions()",
])
QUERIES = st.one_of(st.lists(PIECES, max_size=12).map(" ".join), st.text(max_size=40))


@settings(max_examples=300, deadline=None)
@given(QUERIES)
def test_jql_never_crashes(text: str) -> None:
    try:
        found = jql.search(STORE, text, ALICE, NOW)
    except jql.JqlError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert all(i.key in STORE.issues for i in found)


@settings(max_examples=300, deadline=None)
@given(QUERIES)
def test_cql_never_crashes(text: str) -> None:
    try:
        found = cql.search(STORE, text, ALICE, NOW)
    except cql.CqlError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert all(c.id in STORE.contents for c in found)
