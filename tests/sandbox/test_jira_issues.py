"""Jira issue endpoints in both modes: read, create, edit, delete, comments, transitions and friends."""

from __future__ import annotations

import pytest

from atlassian_sandbox.catalog import STORY_POINTS_FIELD
from atlassian_sandbox.seed import ALICE, BOB, VIEWER
from tests.conftest import SandboxServer
from tests.sandbox.clients import jira, user_ref


@pytest.fixture(autouse=True)
def fresh(sandbox: SandboxServer) -> None:
    sandbox.reset()


def test_issue_has_real_jira_fields(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        issue = c.get("/rest/api/2/issue/DEMO-2").json()
    f = issue["fields"]
    assert issue["key"] == "DEMO-2" and issue["id"].isdigit()
    assert f["status"]["name"] == "Done" and f["status"]["statusCategory"]["key"] == "done"
    assert f["issuetype"]["name"] == "Story" and f["priority"]["name"] == "High"
    assert f["resolutiondate"] and f["resolution"]["name"] == "Done"
    assert f["project"] == {**f["project"], "key": "DEMO", "name": "Demo Project"}
    assert f[STORY_POINTS_FIELD] == 5
    assert [c["author"]["displayName"] for c in f["comment"]["comments"]] == ["Bob Builder", "Alice Admin"]
    assert f["comment"]["total"] == 2
    assert f["parent"]["key"] == "DEMO-1"
    user_id_key = "accountId" if sandbox.mode == "cloud" else "name"
    assert user_id_key in f["assignee"]
    assert f["created"].endswith("+0000")
    assert isinstance(f["customfield_10020"], list)
    if sandbox.mode == "cloud":
        assert f["customfield_10020"][0]["name"] == "DEMO Sprint 1"
    else:
        assert "name=DEMO Sprint 1" in f["customfield_10020"][0]


def test_unassigned_issue_with_null_priority_and_reporter(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        f = c.get("/rest/api/2/issue/DEMO-8").json()["fields"]
    assert f["assignee"] is None and f["priority"] is None and f["reporter"] is None
    assert f["resolutiondate"] is None and f["resolution"] is None


def test_fields_and_changelog_expansion(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        issue = c.get("/rest/api/2/issue/DEMO-6", params={"fields": "summary,status", "expand": "changelog"}).json()
    assert set(issue["fields"]) == {"summary", "status"}
    items = issue["changelog"]["histories"][0]["items"]
    assert items[0]["field"] == "status" and items[0]["toString"] == "In Progress"


def test_rest_v3_returns_descriptions_as_documents(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        v2 = c.get("/rest/api/2/issue/DEMO-2", params={"fields": "description"}).json()["fields"]
        v3 = c.get("/rest/api/3/issue/DEMO-2", params={"fields": "description"}).json()["fields"]
    assert isinstance(v2["description"], str) and v2["description"].startswith("h2. Goal")
    assert v3["description"]["type"] == "doc"
    assert v3["description"]["content"][0]["content"][0]["text"] == "h2. Goal"


def test_rest_api_latest_is_v2(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        latest = c.get("/rest/api/latest/issue/DEMO-2", params={"fields": "description"}).json()
    assert latest["fields"]["description"].startswith("h2. Goal")
    assert latest["self"].startswith(sandbox.url + "/rest/api/2/")


def test_viewer_gets_404_for_a_hidden_project_issue(sandbox: SandboxServer) -> None:
    with jira(sandbox, VIEWER) as c:
        hidden = c.get("/rest/api/2/issue/SEC-1")
        missing = c.get("/rest/api/2/issue/DEMO-999")
    for response in (hidden, missing):
        assert response.status_code == 404
        assert response.json() == {
            "errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}
    with jira(sandbox) as c:
        assert c.get("/rest/api/2/issue/SEC-1").status_code == 200


def test_create_issue_answers_201_and_the_issue_reads_back(sandbox: SandboxServer) -> None:
    body = {"fields": {"project": {"key": "DEMO"}, "summary": "New thing", "issuetype": {"name": "Task"},
                       "description": "Some *wiki* text", "assignee": user_ref(sandbox, BOB),
                       "labels": ["x"], STORY_POINTS_FIELD: 3}}
    with jira(sandbox) as c:
        created = c.post("/rest/api/2/issue", json=body)
        assert created.status_code == 201
        ref = created.json()
        assert set(ref) == {"id", "key", "self"} and ref["key"].startswith("DEMO-")
        f = c.get(f"/rest/api/2/issue/{ref['key']}").json()["fields"]
    assert f["summary"] == "New thing" and f["description"] == "Some *wiki* text"
    assert f["assignee"]["displayName"] == "Bob Builder" and f["reporter"]["displayName"] == "Alice Admin"
    assert f["status"]["name"] == "To Do" and f["labels"] == ["x"] and f[STORY_POINTS_FIELD] == 3


def test_create_issue_reports_field_errors(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        missing = c.post("/rest/api/2/issue", json={"fields": {"project": {"key": "DEMO"},
                                                              "issuetype": {"name": "Task"}}})
        bad_type = c.post("/rest/api/2/issue", json={"fields": {"project": {"key": "DEMO"}, "summary": "s",
                                                               "issuetype": {"name": "Spaceship"}}})
        not_json = c.post("/rest/api/2/issue", content=b"{nope", headers={"Content-Type": "application/json"})
    assert missing.status_code == 400
    assert missing.json() == {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}
    assert bad_type.status_code == 400
    assert bad_type.json()["errors"] == {"issuetype": "The issue type selected is invalid."}
    assert not_json.status_code == 400 and not_json.json()["errorMessages"]


def test_edit_issue_answers_204_and_records_the_change(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        edited = c.put("/rest/api/2/issue/DEMO-3", json={
            "fields": {"summary": "Renamed", "priority": {"name": "Low"}},
            "update": {"labels": [{"add": "new"}], "comment": [{"add": {"body": "via update"}}]}})
        assert edited.status_code == 204 and edited.content == b""
        issue = c.get("/rest/api/2/issue/DEMO-3", params={"expand": "changelog"}).json()
        unknown = c.put("/rest/api/2/issue/DEMO-3", json={"fields": {"status": {"name": "Done"}}})
    f = issue["fields"]
    assert f["summary"] == "Renamed" and f["priority"]["name"] == "Low" and "new" in f["labels"]
    assert f["comment"]["comments"][-1]["body"] == "via update"
    fields_changed = {i["field"] for h in issue["changelog"]["histories"] for i in h["items"]}
    assert {"summary", "priority", "labels"} <= fields_changed
    assert unknown.status_code == 400 and "status" in unknown.json()["errors"]


def test_delete_issue(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        assert c.delete("/rest/api/2/issue/DEMO-6").status_code == 400  # it has sub-tasks
        assert c.delete("/rest/api/2/issue/DEMO-6", params={"deleteSubtasks": "true"}).status_code == 204
        assert c.get("/rest/api/2/issue/DEMO-6").status_code == 404
        assert c.get("/rest/api/2/issue/DEMO-10").status_code == 404


def test_comments_list_and_add(sandbox: SandboxServer) -> None:
    with jira(sandbox, BOB) as c:
        listed = c.get("/rest/api/2/issue/DEMO-6/comment").json()
        added = c.post("/rest/api/2/issue/DEMO-6/comment", json={"body": "Done with *this*"})
        empty = c.post("/rest/api/2/issue/DEMO-6/comment", json={"body": "  "})
        again = c.get("/rest/api/2/issue/DEMO-6/comment").json()
    assert listed["total"] == 3 and len(listed["comments"]) == 3
    assert added.status_code == 201 and added.json()["author"]["displayName"] == "Bob Builder"
    assert empty.status_code == 400
    assert again["total"] == 4 and again["comments"][-1]["body"] == "Done with *this*"


def test_transitions_list_and_post_answers_204_with_an_empty_body(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        listed = c.get("/rest/api/2/issue/DEMO-8/transitions").json()["transitions"]
        names = {t["name"]: t["id"] for t in listed}
        assert "To Do" not in names and {"In Progress", "In Review", "Done"} <= set(names)
        done = c.post("/rest/api/2/issue/DEMO-8/transitions", json={"transition": {"id": names["Done"]}})
        assert done.status_code == 204 and done.content == b""
        f = c.get("/rest/api/2/issue/DEMO-8").json()["fields"]
        assert f["status"]["name"] == "Done" and f["resolutiondate"]
        bad = c.post("/rest/api/2/issue/DEMO-8/transitions", json={"transition": {"id": "999"}})
    assert bad.status_code == 400
    assert bad.json()["errorMessages"] == ["Transition id '999' is not valid for this issue."]


def test_assignee_uses_account_id_on_cloud_and_name_on_dc(sandbox: SandboxServer) -> None:
    wrong = {"name": "bob"} if sandbox.mode == "cloud" else {"accountId": BOB.account_id}
    with jira(sandbox) as c:
        assert c.put("/rest/api/2/issue/DEMO-8/assignee", json=user_ref(sandbox, BOB)).status_code == 204
        assert c.get("/rest/api/2/issue/DEMO-8").json()["fields"]["assignee"]["displayName"] == "Bob Builder"
        refused = c.put("/rest/api/2/issue/DEMO-8/assignee", json=wrong)
        unknown_ref = {"accountId": "nope"} if sandbox.mode == "cloud" else {"name": "nope"}
        unknown = c.put("/rest/api/2/issue/DEMO-8/assignee", json=unknown_ref)
        key = "accountId" if sandbox.mode == "cloud" else "name"
        cleared = c.put("/rest/api/2/issue/DEMO-8/assignee", json={key: None})
        assert c.get("/rest/api/2/issue/DEMO-8").json()["fields"]["assignee"] is None
    assert refused.status_code == 400 and "assignee" in refused.json()["errors"]
    assert unknown.status_code == 400
    assert cleared.status_code == 204


def test_remote_links_point_at_confluence_and_git(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        links = c.get("/rest/api/2/issue/DEMO-2/remotelink").json()
        added = c.post("/rest/api/2/issue/DEMO-2/remotelink",
                       json={"object": {"url": "https://gitlab.com/x/y/-/merge_requests/1", "title": "MR 1"}})
        again = c.get("/rest/api/2/issue/DEMO-2/remotelink").json()
        bad = c.post("/rest/api/2/issue/DEMO-2/remotelink", json={"object": {}})
    urls = [link["object"]["url"] for link in links]
    assert any(u.startswith(sandbox.confluence_url + "/pages/viewpage.action?pageId=") for u in urls)
    assert any(u.startswith("https://github.com/") for u in urls)
    assert added.status_code == 201 and set(added.json()) == {"id", "self"}
    assert len(again) == len(links) + 1
    assert bad.status_code == 400


def test_worklogs(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        before = c.get("/rest/api/2/issue/DEMO-2/worklog").json()
        added = c.post("/rest/api/2/issue/DEMO-2/worklog", json={"timeSpent": "1h 30m", "comment": "pairing"})
        after = c.get("/rest/api/2/issue/DEMO-2/worklog").json()
        bad = c.post("/rest/api/2/issue/DEMO-2/worklog", json={"timeSpent": "soon"})
    assert added.status_code == 201 and added.json()["timeSpentSeconds"] == 5400
    assert added.json()["timeSpent"] == "1h 30m"
    assert after["total"] == before["total"] + 1
    assert bad.status_code == 400


def test_viewer_gets_403_on_every_write(sandbox: SandboxServer) -> None:
    with jira(sandbox, VIEWER) as c:
        responses = [
            c.post("/rest/api/2/issue", json={"fields": {"project": {"key": "DEMO"}, "summary": "s",
                                                         "issuetype": {"name": "Task"}}}),
            c.put("/rest/api/2/issue/DEMO-3", json={"fields": {"summary": "x"}}),
            c.delete("/rest/api/2/issue/DEMO-3"),
            c.post("/rest/api/2/issue/DEMO-3/comment", json={"body": "hi"}),
            c.post("/rest/api/2/issue/DEMO-3/transitions", json={"transition": {"id": "21"}}),
            c.put("/rest/api/2/issue/DEMO-3/assignee", json=user_ref(sandbox, VIEWER)),
            c.post("/rest/api/2/issue/DEMO-3/remotelink", json={"object": {"url": "u", "title": "t"}}),
            c.post("/rest/api/2/issue/DEMO-3/worklog", json={"timeSpent": "1h"}),
            c.post("/rest/api/2/issueLink", json={"type": {"name": "Blocks"}, "inwardIssue": {"key": "DEMO-3"},
                                                  "outwardIssue": {"key": "DEMO-4"}}),
        ]
        readable = c.get("/rest/api/2/issue/DEMO-3")
    for response in responses:
        assert response.status_code == 403, response.request.url
        assert response.json()["errorMessages"][0].startswith("You do not have permission")
    assert readable.status_code == 200 and readable.json()["fields"]["summary"] != "x"


def test_issue_links(sandbox: SandboxServer) -> None:
    with jira(sandbox, ALICE) as c:
        types = c.get("/rest/api/2/issueLinkType").json()["issueLinkTypes"]
        assert {"Blocks", "Relates"} <= {t["name"] for t in types}
        linked = c.post("/rest/api/2/issueLink", json={
            "type": {"name": "Blocks"}, "inwardIssue": {"key": "DEMO-3"}, "outwardIssue": {"key": "DEMO-4"}})
        assert linked.status_code == 201
        links = c.get("/rest/api/2/issue/DEMO-4", params={"fields": "issuelinks"}).json()["fields"]["issuelinks"]
        unknown = c.post("/rest/api/2/issueLink", json={
            "type": {"name": "Nope"}, "inwardIssue": {"key": "DEMO-3"}, "outwardIssue": {"key": "DEMO-4"}})
    assert any(link.get("inwardIssue", {}).get("key") == "DEMO-3" for link in links)
    assert unknown.status_code == 404


def test_an_edit_with_one_bad_field_changes_nothing(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        before = c.get("/rest/api/2/issue/DEMO-3").json()["fields"]
        refused = c.put("/rest/api/2/issue/DEMO-3", json={
            "fields": {"summary": "Should not stick", "priority": {"name": "Bogus"}},
            "update": {"comment": [{"add": {"body": "nor this"}}]}})
        failed_transition = c.post("/rest/api/2/issue/DEMO-8/transitions", json={
            "transition": {"id": "41"}, "fields": {"assignee": {"accountId": "nobody", "name": "nobody"}}})
        after = c.get("/rest/api/2/issue/DEMO-3").json()["fields"]
        still_open = c.get("/rest/api/2/issue/DEMO-8").json()["fields"]
    assert refused.status_code == 400 and refused.json()["errors"] == {"priority": "The priority selected is invalid."}
    assert after["summary"] == before["summary"] and after["comment"]["total"] == before["comment"]["total"]
    assert failed_transition.status_code == 400
    assert still_open["status"]["name"] == "To Do" and still_open["resolutiondate"] is None


def test_create_with_a_bad_optional_field_creates_nothing(sandbox: SandboxServer) -> None:
    body = {"fields": {"project": {"key": "OPS"}, "summary": "x", "issuetype": {"name": "Task"},
                       "labels": "not-a-list"}}
    with jira(sandbox) as c:
        refused = c.post("/rest/api/2/issue", json=body)
        body["fields"]["labels"] = ["ok"]
        created = c.post("/rest/api/2/issue", json=body)
    assert refused.status_code == 400 and "labels" in refused.json()["errors"]
    assert created.status_code == 201 and created.json()["key"] == "OPS-16"
