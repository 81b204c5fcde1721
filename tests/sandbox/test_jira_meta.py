"""Jira metadata in both modes: myself, serverInfo, projects, users, fields, create metadata."""

from __future__ import annotations

from atlassian_sandbox.catalog import STORY_POINTS_FIELD
from atlassian_sandbox.seed import ALICE, BOB, VIEWER
from tests.conftest import SandboxServer
from tests.sandbox.clients import jira


def test_myself_uses_the_mode_user_shape(sandbox: SandboxServer) -> None:
    with jira(sandbox, BOB, bearer=True) as c:
        me = c.get("/rest/api/2/myself").json()
    assert me["displayName"] == "Bob Builder" and me["emailAddress"] == BOB.email
    if sandbox.mode == "cloud":
        assert me["accountId"] == BOB.account_id and "name" not in me
    else:
        assert me["name"] == "bob" and me["key"] == "bob" and "accountId" not in me


def test_server_info_names_the_deployment_type(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        info = c.get("/rest/api/2/serverInfo").json()
    assert info["deploymentType"] == ("Cloud" if sandbox.mode == "cloud" else "Server")
    assert info["baseUrl"] == sandbox.url


def test_projects_hide_sec_from_the_viewer(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        everything = [p["key"] for p in c.get("/rest/api/2/project").json()]
        searched = c.get("/rest/api/2/project/search", params={"maxResults": 2}).json()
        project = c.get("/rest/api/2/project/DEMO").json()
        versions = c.get("/rest/api/2/project/DEMO/versions").json()
    with jira(sandbox, VIEWER) as c:
        visible = [p["key"] for p in c.get("/rest/api/2/project").json()]
        hidden = c.get("/rest/api/2/project/SEC")
    assert everything == ["DEMO", "OPS", "SEC"] and visible == ["DEMO", "OPS"]
    assert searched["total"] == 3 and len(searched["values"]) == 2 and searched["isLast"] is False
    assert project["lead"]["displayName"] == "Alice Admin"
    assert [v["name"] for v in versions] == ["1.0", "1.1", "2.0"] and versions[0]["released"] is True
    assert hidden.status_code == 404 and hidden.json()["errorMessages"]


def test_user_search_takes_query_on_cloud_and_username_on_dc(sandbox: SandboxServer) -> None:
    right, wrong = ("query", "username") if sandbox.mode == "cloud" else ("username", "query")
    with jira(sandbox) as c:
        found = c.get("/rest/api/2/user/search", params={right: "car"}).json()
        refused = c.get("/rest/api/2/user/search", params={wrong: "car"})
        assignable = c.get("/rest/api/2/user/assignable/search", params={"project": "DEMO"}).json()
        for_issue = c.get("/rest/api/2/user/assignable/search", params={"issueKey": "DEMO-1", right: "ali"}).json()
    assert [u["displayName"] for u in found] == ["Carol Coder"]
    assert refused.status_code == 400 and refused.json()["errorMessages"]
    assert "Vera Viewer" not in [u["displayName"] for u in assignable] and len(assignable) == 3
    assert [u["emailAddress"] for u in for_issue] == [ALICE.email]


def test_fields_include_story_points_and_sprint(sandbox: SandboxServer) -> None:
    with jira(sandbox) as c:
        fields = {f["name"]: f for f in c.get("/rest/api/2/field").json()}
    assert fields["Story Points"]["id"] == STORY_POINTS_FIELD and fields["Story Points"]["custom"] is True
    assert fields["Sprint"]["schema"]["custom"] == "com.pyxis.greenhopper.jira:gh-sprint"
    assert fields["Summary"]["custom"] is False


def test_createmeta_new_and_legacy(sandbox: SandboxServer) -> None:
    types_key, fields_key = ("issueTypes", "fields") if sandbox.mode == "cloud" else ("values", "values")
    with jira(sandbox) as c:
        types = c.get("/rest/api/2/issue/createmeta/DEMO/issuetypes").json()[types_key]
        story = next(t for t in types if t["name"] == "Story")
        fields = c.get(f"/rest/api/2/issue/createmeta/DEMO/issuetypes/{story['id']}").json()[fields_key]
        legacy = c.get("/rest/api/2/issue/createmeta",
                       params={"projectKeys": "OPS", "expand": "projects.issuetypes.fields"}).json()
        missing = c.get("/rest/api/2/issue/createmeta/DEMO/issuetypes/424242")
    assert {"Story", "Task", "Bug", "Epic", "Sub-task"} == {t["name"] for t in types}
    required = {f["fieldId"] for f in fields if f["required"]}
    assert required == {"summary", "issuetype", "project"}
    assert STORY_POINTS_FIELD in {f["fieldId"] for f in fields}
    [project] = legacy["projects"]
    assert project["key"] == "OPS"
    assert project["issuetypes"][0]["fields"]["summary"]["required"] is True
    assert missing.status_code == 404
