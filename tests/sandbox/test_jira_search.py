"""Jira search: the cloud/dc split, both paging styles, and the JQL subset with its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from atlassian_sandbox.seed import BOB, VIEWER
from tests.conftest import SandboxServer
from tests.sandbox.clients import jira


def keys(sandbox: SandboxServer, jql: str, client: httpx.Client | None = None) -> list[str]:
    """Every key the mode's own search returns for `jql`, all pages followed."""
    own = client or jira(sandbox)
    found: list[str] = []
    if sandbox.mode == "cloud":
        token = None
        while True:
            params: dict[str, Any] = {"jql": jql, "maxResults": 7, "fields": "summary"}
            if token:
                params["nextPageToken"] = token
            page = own.get("/rest/api/3/search/jql", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            assert "total" not in body
            found += [i["key"] for i in body["issues"]]
            if body["isLast"]:
                assert "nextPageToken" not in body
                break
            token = body["nextPageToken"]
    else:
        start = 0
        while True:
            body = own.get("/rest/api/2/search", params={"jql": jql, "startAt": start, "maxResults": 7}).json()
            found += [i["key"] for i in body["issues"]]
            start += 7
            if start >= body["total"]:
                break
    if client is None:
        own.close()
    return found


def test_cloud_legacy_search_is_gone_and_dc_has_no_enhanced_search(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        legacy = c.get("/rest/api/2/search", params={"jql": "project = DEMO"})
        enhanced = c.get("/rest/api/3/search/jql", params={"jql": "project = DEMO"})
        legacy_post = c.post("/rest/api/2/search", json={"jql": "project = DEMO"})
    if sandbox.mode == "cloud":
        assert legacy.status_code == 410 and legacy_post.status_code == 410
        assert "/rest/api/3/search/jql" in legacy.json()["errorMessages"][0]
        assert enhanced.status_code == 200
    else:
        assert legacy.status_code == 200 and legacy_post.status_code == 200
        assert enhanced.status_code == 404


def test_paging_reaches_every_issue_once(sandbox: SandboxServer) -> None:
    sandbox.reset()
    found = keys(sandbox, "project in (DEMO, OPS) ORDER BY key ASC")
    assert len(found) == 40 and len(set(found)) == 40
    assert found[:2] == ["DEMO-1", "DEMO-2"] and found[-1] == "OPS-15"


def test_dc_search_reports_total_and_start(sandbox_dc: SandboxServer) -> None:
    sandbox_dc.reset()
    with jira(sandbox_dc) as c:
        body = c.post("/rest/api/2/search", json={"jql": "project = OPS", "startAt": 10, "maxResults": 3,
                                                  "fields": ["summary", "status"]}).json()
    assert body["total"] == 15 and body["startAt"] == 10 and body["maxResults"] == 3 and len(body["issues"]) == 3
    assert set(body["issues"][0]["fields"]) == {"summary", "status"}


def test_cloud_enhanced_search_returns_ids_unless_fields_are_asked(sandbox_cloud: SandboxServer) -> None:
    sandbox_cloud.reset()
    with jira(sandbox_cloud) as c:
        bare = c.post("/rest/api/3/search/jql", json={"jql": "project = OPS", "maxResults": 2}).json()
        rich = c.post("/rest/api/3/search/jql",
                      json={"jql": "project = OPS", "maxResults": 2, "fields": ["summary"]}).json()
        unbounded = c.get("/rest/api/3/search/jql", params={"jql": "ORDER BY created DESC"})
        bad_token = c.get("/rest/api/3/search/jql", params={"jql": "project = OPS", "nextPageToken": "zzz"})
    assert "fields" not in bare["issues"][0] and bare["issues"][0]["id"]
    assert set(rich["issues"][0]["fields"]) == {"summary"}
    assert bare["nextPageToken"] and bare["isLast"] is False
    assert unbounded.status_code == 400 and "Unbounded" in unbounded.json()["errorMessages"][0]
    assert bad_token.status_code == 400


SEARCHES = [
    ("project = DEMO AND issuetype = Epic", ["DEMO-1", "DEMO-17"]),
    ("project = DEMO AND type in (Epic, Sub-task) AND status != Done", ["DEMO-1", "DEMO-11", "DEMO-17"]),
    ("project = SEC AND assignee is EMPTY", ["SEC-4", "SEC-8"]),
    ("project = SEC AND assignee is not EMPTY AND status not in ('To Do', Done)", ["SEC-1", "SEC-7"]),
    ("project = OPS AND priority is EMPTY", ["OPS-8"]),
    ("project = DEMO AND labels = search AND issuetype = Bug", ["DEMO-20"]),
    ('summary ~ "gift card"', ["DEMO-6", "DEMO-10", "DEMO-11"]),
    ("text ~ hard-codes", ["DEMO-9"]),
    ("project = OPS AND (status = Done OR priority = Highest) AND assignee = bob", ["OPS-9"]),
    ("project = DEMO AND sprint in openSprints() AND statusCategory = Done", ["DEMO-10"]),
    ("project = DEMO AND sprint = 1 AND assignee = carol", ["DEMO-3", "DEMO-24"]),
    ("project = SEC AND reporter is EMPTY", ["SEC-8"]),
    ("project = DEMO AND cf[10016] >= 8", ["DEMO-6", "DEMO-13", "DEMO-19"]),
    ("project = DEMO AND parent = DEMO-6", ["DEMO-10", "DEMO-11"]),
    ("key = OPS-3", ["OPS-3"]),
    ("issue in (OPS-3, DEMO-4)", ["OPS-3", "DEMO-4"]),
    ("project = DEMO AND fixVersion in releasedVersions(DEMO)", ["DEMO-2", "DEMO-3", "DEMO-5", "DEMO-22"]),
    ("assignee in (currentUser()) AND project = SEC", ["SEC-1", "SEC-5"]),
    ("project = SEC AND NOT status = 'To Do' AND assignee != carol", ["SEC-1", "SEC-6"]),
]


@pytest.mark.parametrize(("jql", "expected"), SEARCHES, ids=[s[0] for s in SEARCHES])
def test_jql_operators(sandbox: SandboxServer, jql: str, expected: list[str]) -> None:
    assert sorted(keys(sandbox, jql)) == sorted(expected)


def test_order_by(sandbox: SandboxServer) -> None:
    by_priority = keys(sandbox, "project = SEC AND priority is not EMPTY ORDER BY priority DESC, key ASC")
    assert by_priority == ["SEC-1", "SEC-3", "SEC-4", "SEC-7", "SEC-2", "SEC-5", "SEC-6"]
    created = keys(sandbox, "project = OPS ORDER BY created ASC")
    with jira(sandbox) as c:
        stamps = [c.get(f"/rest/api/2/issue/{k}", params={"fields": "created"}).json()["fields"]["created"]
                  for k in created]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    newest = keys(sandbox, "project = OPS ORDER BY created DESC")
    assert newest == list(reversed(created))


def test_current_user_and_relative_dates(sandbox: SandboxServer) -> None:
    sandbox.reset()
    with jira(sandbox, BOB) as c:
        mine = keys(sandbox, "assignee = currentUser() AND project = SEC", c)
        created = c.post("/rest/api/2/issue", json={"fields": {"project": {"key": "OPS"}, "summary": "fresh",
                                                               "issuetype": {"name": "Task"}}}).json()["key"]
    assert sorted(mine) == ["SEC-2", "SEC-6"]
    recent = keys(sandbox, "created >= -1h")
    assert recent == [created]
    assert keys(sandbox, 'project = OPS AND created >= "-1w 2d" AND created > "-2h 30m"') == [created]
    week = keys(sandbox, "project = DEMO AND created >= -7d")
    month = keys(sandbox, "project = DEMO AND created >= -30d")
    assert set(week) < set(month)
    day = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert created in keys(sandbox, f'created < "{day}" AND project = OPS')


def test_viewer_never_sees_sec_in_search(sandbox: SandboxServer) -> None:
    with jira(sandbox, VIEWER) as c:
        everything = keys(sandbox, "project in (DEMO, OPS) OR labels = security", c)
        named = c.get("/rest/api/2/search" if sandbox.mode == "dc" else "/rest/api/3/search/jql",
                      params={"jql": "project = SEC"})
    assert everything and not any(k.startswith("SEC-") for k in everything)
    assert named.status_code == 400
    assert named.json()["errorMessages"] == ["The value 'SEC' does not exist for the field 'project'."]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("status foo Done", "Error in the JQL Query: Expecting operator but got 'foo'."),
        ("project = DEMO AND (status = Done", "Error in the JQL Query: Expecting ')' before the end of the query."),
        ("project = DEMO AND", "Error in the JQL Query: Expecting a field name before the end of the query."),
        ("nosuchfield = 1", "Field 'nosuchfield' does not exist or you do not have permission to view it."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("summary = 'exact'", "The operator '=' is not supported by the 'summary' field."),
        ("created > 'yesterday'", "Date value 'yesterday' for field 'created' is invalid."),
        ("project = DEMO ORDER BY labels", "Field 'labels' does not support sorting."),
        ('summary ~ "unclosed', "Error in the JQL Query: Missing closing quote"),
    ],
)
def test_bad_jql_answers_400_with_the_reason(sandbox: SandboxServer, jql: str, message: str) -> None:
    path = "/rest/api/3/search/jql" if sandbox.mode == "cloud" else "/rest/api/2/search"
    with jira(sandbox) as c:
        response = c.get(path, params={"jql": jql})
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {} and body["errorMessages"][0].startswith(message)
