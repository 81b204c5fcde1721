"""Confluence v1 in both modes: content, exact storage round-trips, versions, children, labels, CQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from atlassian_sandbox.seed import BOB, VIEWER
from tests.conftest import SandboxServer
from tests.sandbox.clients import wiki


@pytest.fixture(autouse=True)
def fresh(sandbox: SandboxServer) -> None:
    sandbox.reset()


def page_id(c: httpx.Client, title: str, space: str = "ENG") -> str:
    found = c.get("/rest/api/content", params={"spaceKey": space, "title": title}).json()["results"]
    assert len(found) == 1, title
    return str(found[0]["id"])


def test_spaces_and_current_user(sandbox: SandboxServer) -> None:
    with wiki(sandbox, BOB) as c:
        spaces = c.get("/rest/api/space").json()
        one = c.get("/rest/api/space/DOCS").json()
        missing = c.get("/rest/api/space/NOPE")
        me = c.get("/rest/api/user/current").json()
    assert [s["key"] for s in spaces["results"]] == ["ENG", "DOCS"] and spaces["size"] == 2
    assert one["name"] == "Documentation"
    assert missing.status_code == 404 and missing.json()["statusCode"] == 404
    assert me["displayName"] == "Bob Builder" and me["type"] == "known"
    assert (me.get("accountId") if sandbox.mode == "cloud" else me.get("username")) == (
        BOB.account_id if sandbox.mode == "cloud" else "bob")
    lookup = {"accountId": BOB.account_id} if sandbox.mode == "cloud" else {"username": "bob"}
    with wiki(sandbox) as c:
        assert c.get("/rest/api/user", params=lookup).json()["displayName"] == "Bob Builder"
        assert c.get("/rest/api/user", params={"username": "nobody", "accountId": "nobody"}).status_code == 404


def test_page_expansions(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        pid = page_id(c, "Gateway Rate Limiting")
        plain = c.get(f"/rest/api/content/{pid}", params={"expand": ""}).json()
        full = c.get(f"/rest/api/content/{pid}",
                     params={"expand": "body.storage,version,space,ancestors,history"}).json()
    assert "body" not in plain and "body" in plain["_expandable"]
    assert full["body"]["storage"]["representation"] == "storage"
    assert full["body"]["storage"]["value"].startswith("<h3>Rate limiting</h3>")
    assert full["space"]["key"] == "ENG" and full["version"]["number"] == 1
    assert [a["title"] for a in full["ancestors"]] == ["Engineering Home", "Architecture Overview", "Gateway Design"]
    assert full["history"]["createdBy"]["displayName"]
    assert full["_links"]["webui"]


def test_seeded_storage_has_rich_markup(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        pid = page_id(c, "Architecture Overview")
        body = c.get(f"/rest/api/content/{pid}", params={"expand": "body.storage"}).json()
    storage = body["body"]["storage"]["value"]
    for needle in ("<h1>", "<ul>", "<table>", 'ac:name="code"', "<![CDATA[", "<a href=", "<ac:link>"):
        assert needle in storage


def test_create_page_and_raw_round_trip_is_exact(sandbox: SandboxServer) -> None:
    storage = ('<p>Ünïcode &amp; "quotes" <code>x &lt; y</code></p>\n\n  <ac:structured-macro ac:name="code">'
               "<ac:plain-text-body><![CDATA[if a < b:\r\n\tpass]]></ac:plain-text-body></ac:structured-macro>  ")
    with wiki(sandbox) as c:
        parent = page_id(c, "Deployment Guide")
        created = c.post("/rest/api/content", json={
            "type": "page", "title": "Round trip", "space": {"key": "ENG"}, "ancestors": [{"id": parent}],
            "body": {"storage": {"value": storage, "representation": "storage"}}})
        assert created.status_code == 200, created.text
        new = created.json()
        read = c.get(f"/rest/api/content/{new['id']}", params={"expand": "body.storage,ancestors"}).json()
        duplicate = c.post("/rest/api/content", json={
            "type": "page", "title": "Round trip", "space": {"key": "ENG"},
            "body": {"storage": {"value": "<p/>", "representation": "storage"}}})
        no_space = c.post("/rest/api/content", json={
            "type": "page", "title": "x", "space": {"key": "NOPE"},
            "body": {"storage": {"value": "<p/>", "representation": "storage"}}})
    assert new["version"]["number"] == 1 and new["space"]["key"] == "ENG"
    assert read["body"]["storage"]["value"] == storage
    assert read["ancestors"][-1]["id"] == parent
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["message"]
    assert no_space.status_code == 400 and no_space.json()["reason"] == "Bad Request"


def test_a_body_that_is_not_valid_json_text_is_refused(sandbox: SandboxServer) -> None:
    raw = b'{"type": "page", "title": "t", "space": {"key": "ENG"}, "body": {"storage": {"value": "\\ud800"}}}'
    with wiki(sandbox) as c:
        response = c.post("/rest/api/content", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["statusCode"] == 400


def test_update_requires_the_next_version_number(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        pid = page_id(c, "Deployment Guide")
        current = c.get(f"/rest/api/content/{pid}", params={"expand": "version"}).json()["version"]["number"]
        assert current == 3

        def put(number: int) -> httpx.Response:
            return c.put(f"/rest/api/content/{pid}", json={
                "type": "page", "title": "Deployment Guide", "version": {"number": number, "message": "edit"},
                "body": {"storage": {"value": f"<p>v{number}</p>", "representation": "storage"}}})

        stale = put(current)
        skipped = put(current + 2)
        ok = put(current + 1)
        versions = c.get(f"/rest/api/content/{pid}/version").json()
        old = c.get(f"/rest/api/content/{pid}", params={"version": 1, "expand": "body.storage"}).json()
    for conflict in (stale, skipped):
        assert conflict.status_code == 409
        body = conflict.json()
        assert body["statusCode"] == 409 and body["reason"] == "Conflict"
        assert body["message"] == "Version must be incremented on update. Current version is: 3"
    assert ok.status_code == 200
    assert ok.json()["version"]["number"] == 4 and ok.json()["body"]["storage"]["value"] == "<p>v4</p>"
    assert [v["number"] for v in versions["results"]] == [4, 3, 2, 1]
    assert versions["results"][0]["message"] == "edit"
    assert old["status"] == "historical" and old["body"]["storage"]["value"] == "<h1>Deployment Guide</h1><p>TODO</p>"


def test_moving_a_page_below_itself_is_refused(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        arch = page_id(c, "Architecture Overview")
        below = page_id(c, "Gateway Rate Limiting")
        docs = page_id(c, "User Guide", "DOCS")
        body = {"type": "page", "title": "Architecture Overview", "version": {"number": 2},
                "ancestors": [{"id": below}]}
        refused = c.put(f"/rest/api/content/{arch}", json=body)
        other_space = c.put(f"/rest/api/content/{arch}", json={**body, "ancestors": [{"id": docs}]})
        home = page_id(c, "Engineering Home")
        moved = c.put(f"/rest/api/content/{below}", json={
            "type": "page", "title": "Gateway Rate Limiting", "version": {"number": 2}, "ancestors": [{"id": home}]})
        ancestors = c.get(f"/rest/api/content/{below}", params={"expand": "ancestors,body.storage"}).json()
        unchanged = c.get(f"/rest/api/content/{arch}", params={"expand": "version"}).json()
    assert refused.status_code == 400 and other_space.status_code == 400
    assert unchanged["version"]["number"] == 1
    assert moved.status_code == 200 and [a["title"] for a in ancestors["ancestors"]] == ["Engineering Home"]
    assert ancestors["body"]["storage"]["value"].startswith("<h3>Rate limiting</h3>")


def test_delete_then_404(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        pid = page_id(c, "Rollback Procedure")
        assert c.delete(f"/rest/api/content/{pid}").status_code == 204
        gone = c.get(f"/rest/api/content/{pid}")
    assert gone.status_code == 404
    assert gone.json()["message"] == f"No content found with id: ContentId{{id={pid}}}"


def test_children_and_comments(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        home = page_id(c, "Engineering Home")
        arch = page_id(c, "Architecture Overview")
        pages = c.get(f"/rest/api/content/{home}/child/page").json()
        comments = c.get(f"/rest/api/content/{arch}/child/comment", params={"expand": "body.storage"}).json()
        added = c.post("/rest/api/content", json={
            "type": "comment", "container": {"id": arch, "type": "page"},
            "body": {"storage": {"value": "<p>Me too</p>", "representation": "storage"}}})
        after = c.get(f"/rest/api/content/{arch}/child/comment").json()
    assert [p["title"] for p in pages["results"]] == ["Architecture Overview", "Deployment Guide",
                                                     "Onboarding Checklist"]
    assert comments["size"] == 2 and comments["results"][0]["body"]["storage"]["value"].startswith("<p>Should")
    assert added.status_code == 200 and added.json()["type"] == "comment"
    assert added.json()["container"]["id"] == arch
    assert after["size"] == 3


def test_labels(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        pid = page_id(c, "Deployment Guide")
        before = c.get(f"/rest/api/content/{pid}/label").json()
        added = c.post(f"/rest/api/content/{pid}/label", json=[{"prefix": "global", "name": "ops"}])
        bad = c.post(f"/rest/api/content/{pid}/label", json=[{"prefix": "global", "name": "two words"}])
    assert sorted(lbl["name"] for lbl in before["results"]) == ["deploy", "howto"]
    assert added.status_code == 200 and "ops" in [lbl["name"] for lbl in added.json()["results"]]
    assert bad.status_code == 400
    with wiki(sandbox) as c:
        assert c.delete(f"/rest/api/content/{pid}/label/ops").status_code == 204
        assert c.delete(f"/rest/api/content/{pid}/label/ops").status_code == 404
        names = [lbl["name"] for lbl in c.get(f"/rest/api/content/{pid}/label").json()["results"]]
    assert "ops" not in names


def test_viewer_gets_403_on_confluence_writes(sandbox: SandboxServer) -> None:
    with wiki(sandbox, VIEWER) as c:
        pid = page_id(c, "User Guide", "DOCS")
        storage = {"storage": {"value": "<p>x</p>", "representation": "storage"}}
        responses = [
            c.post("/rest/api/content", json={"type": "page", "title": "t", "space": {"key": "DOCS"},
                                              "body": storage}),
            c.put(f"/rest/api/content/{pid}", json={"type": "page", "title": "t", "version": {"number": 2},
                                                    "body": storage}),
            c.delete(f"/rest/api/content/{pid}"),
            c.post(f"/rest/api/content/{pid}/label", json=[{"name": "x"}]),
        ]
    for response in responses:
        assert response.status_code == 403
        assert response.json()["statusCode"] == 403 and response.json()["reason"] == "Forbidden"


def cql_titles(c: httpx.Client, cql: str) -> list[str]:
    """Every title the CQL finds, following `_links.next` to the end."""
    titles: list[str] = []
    params: dict[str, Any] | None = {"cql": cql, "limit": 3}
    url = "/rest/api/content/search"
    while True:
        response = c.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        titles += [r["title"] for r in body["results"]]
        nxt = body["_links"].get("next")
        if not nxt:
            return titles
        url, params = body["_links"]["base"].rsplit(body["_links"]["context"], 1)[0] + body["_links"]["context"] \
            + nxt, None


CQL = [
    ("type = page AND space = DOCS", ["Documentation Home", "User Guide", "Checkout FAQ", "Payment Methods",
                                      "Release Notes"]),
    ('title ~ "guide" AND type = page', ["User Guide", "Deployment Guide"]),
    ('title ~ "guide" AND type = comment', ["Re: User Guide", "Re: Deployment Guide"]),
    ('text ~ "kubectl"', ["Deployment Guide"]),
    ('siteSearch ~ "kubectl" AND space in (ENG, DOCS)', ["Deployment Guide"]),
    ('ancestor = 65539 AND type = page', ["Gateway Design", "Orders Service", "Gateway Rate Limiting"]),
    ("creator = carol AND type = page", ["Gateway Design", "Documentation Home", "Payment Methods"]),
    ("label = howto", ["Deployment Guide", "Gateway Rate Limiting", "Rollback Procedure"]),
    ('label in (faq, release) AND type = page', ["Checkout FAQ", "Release Notes"]),
    ('space = ENG AND type = page AND NOT label = howto AND title ~ "o"',
     ["Engineering Home", "Architecture Overview", "Orders Service", "Onboarding Checklist"]),
    ('title = "Checkout FAQ" OR title = "Release Notes"', ["Checkout FAQ", "Release Notes"]),
    ("type = comment AND space = DOCS", ["Re: User Guide"]),
    ('type = page AND lastmodified > now("-20d")', ["Payment Methods", "Release Notes"]),
]


@pytest.mark.parametrize(("cql", "expected"), CQL, ids=[q[0] for q in CQL])
def test_cql_operators(sandbox: SandboxServer, cql: str, expected: list[str]) -> None:
    with wiki(sandbox) as c:
        assert sorted(cql_titles(c, cql)) == sorted(expected)


def test_cql_order_and_paging_links(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        ordered = cql_titles(c, "type = page ORDER BY title ASC")
        first = c.get("/rest/api/content/search", params={"cql": "type = page", "limit": 5}).json()
    assert ordered == sorted(ordered, key=str.lower) and len(ordered) == 13
    assert first["size"] == 5 and first["start"] == 0 and "start=5" in first["_links"]["next"]
    assert first["_links"]["next"].startswith("/rest/api/content/search?")


def test_bad_cql_answers_400(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        broken = c.get("/rest/api/content/search", params={"cql": "title ~ (("})
        unknown = c.get("/rest/api/content/search", params={"cql": "colour = red"})
        empty = c.get("/rest/api/content/search", params={"cql": ""})
    assert broken.status_code == 400
    assert broken.json()["message"] == "Could not parse cql : title ~ (("
    assert broken.json()["statusCode"] == 400 and broken.json()["reason"] == "Bad Request"
    assert unknown.status_code == 400 and empty.status_code == 400


def test_site_search_wraps_results(sandbox: SandboxServer) -> None:
    with wiki(sandbox) as c:
        body = c.get("/rest/api/search", params={"cql": 'text ~ "rate limits"'}).json()
    assert body["totalSize"] == 1 and body["results"][0]["content"]["title"] == "Gateway Design"
    assert "100 requests" in body["results"][0]["excerpt"]
