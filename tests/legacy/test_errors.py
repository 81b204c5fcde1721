"""Error paths: each answers isError=true carrying the service's own message.

The expected message is read from the sandbox directly with the same request, so the test checks
that what Jira/Confluence said reaches the client, not a paraphrase.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from atlassian_sandbox.seed import ALICE, VIEWER
from tests.conftest import SandboxServer
from tests.legacy.harness import call, fail, legacy_client, page_id

pytestmark = pytest.mark.anyio


async def _direct(sandbox: SandboxServer, method: str, url: str, auth: Any, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(auth=auth, timeout=10) as http:
        return await http.request(method, url, **kwargs)


def _jira_messages(response: httpx.Response) -> list[str]:
    body = response.json()
    return [*body.get("errorMessages", []), *(f"{k}: {v}" for k, v in body.get("errors", {}).items())]


async def test_bad_token_is_401_with_the_service_message(sandbox: SandboxServer, tmp_path: Path) -> None:
    env = sandbox.env(ALICE)
    for key in list(env):
        if key.endswith("TOKEN"):
            env[key] = "not-a-valid-token-7f3a"
    direct = await _direct(sandbox, "GET", f"{sandbox.jira_url}/rest/api/2/myself",
                           httpx.BasicAuth("alice@example.com", "nope"))
    assert direct.status_code == 401
    async with legacy_client(env, tmp_path) as client:
        message = await fail(client, "get-jira-current-user")
        assert "Jira answered 401" in message
        assert all(m in message for m in _jira_messages(direct))
        confluence = await fail(client, "get-confluence-spaces")
        assert "Confluence answered 401" in confluence


async def test_viewer_writes_are_403(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    architecture = page_id(sandbox, "Architecture Overview")
    direct = await _direct(sandbox, "POST", f"{sandbox.jira_url}/rest/api/2/issue/DEMO-1/comment",
                           sandbox.auth(VIEWER), json={"body": "x"})
    assert direct.status_code == 403
    async with legacy_client(sandbox.env(VIEWER), tmp_path) as client:
        message = await fail(client, "comment-jira-issue", {"issue_key": "DEMO-1", "comment": "hello"})
        assert "Jira answered 403" in message and all(m in message for m in _jira_messages(direct))
        page = await fail(client, "add-confluence-label", {"page_id": architecture, "label": "mine"})
        assert "Confluence answered 403" in page
        # Viewer cannot see project SEC at all.
        hidden = await fail(client, "get-jira-issue", {"issue_key": "SEC-1"})
        assert "Jira answered 404" in hidden


async def test_missing_issue_and_page_are_404(sandbox: SandboxServer, tmp_path: Path) -> None:
    direct = await _direct(sandbox, "GET", f"{sandbox.jira_url}/rest/api/2/issue/DEMO-999", sandbox.auth(ALICE))
    page = await _direct(sandbox, "GET", f"{sandbox.confluence_url}/rest/api/content/999999", sandbox.auth(ALICE))
    assert direct.status_code == 404 and page.status_code == 404
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        message = await fail(client, "get-jira-issue", {"issue_key": "DEMO-999"})
        assert "Jira answered 404" in message and all(m in message for m in _jira_messages(direct))
        missing = await fail(client, "get-confluence-page", {"page_id": "999999"})
        assert "Confluence answered 404" in missing and page.json()["message"] in missing


async def test_bad_jql_and_bad_fields_are_400_with_jira_messages(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    jql = "project = DEMO AND status =="
    path = "/rest/api/3/search/jql" if sandbox.mode == "cloud" else "/rest/api/2/search"
    direct = await _direct(sandbox, "GET", sandbox.jira_url + path, sandbox.auth(ALICE), params={"jql": jql})
    assert direct.status_code == 400
    bad_create = {"fields": {"project": {"key": "DEMO"}, "summary": "x", "issuetype": {"name": "Spaceship"}}}
    created = await _direct(sandbox, "POST", f"{sandbox.jira_url}/rest/api/2/issue", sandbox.auth(ALICE),
                            json=bad_create)
    assert created.status_code == 400
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        message = await fail(client, "search-jira-issues", {"jql": jql})
        assert "Jira answered 400" in message and all(m in message for m in _jira_messages(direct))
        create = await fail(client, "create-jira-issue",
                            {"project_key": "DEMO", "summary": "x", "issue_type": "Spaceship"})
        assert all(m in create for m in _jira_messages(created))


async def test_confluence_version_conflict(sandbox: SandboxServer, tmp_path: Path) -> None:
    """One 409 is retried with the current version; a lasting conflict reaches the client as 409."""
    sandbox.reset()
    guide = page_id(sandbox, "Deployment Guide")
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        # A stale version number (the guide is at 3): the sandbox answers 409, the server re-reads and retries.
        retried = await call(client, "update-confluence-page",
                             {"page_id": guide, "title": "Deployment Guide", "content": "Step 1", "version": 2})
        assert "to version 4" in retried
        puts = [r for r in sandbox.requests() if r["method"] == "PUT" and r["path"].endswith(f"/content/{guide}")]
        assert [r["status"] for r in puts] == [409, 200]

        sandbox.fault(method="PUT", path=f"/content/{guide}$", status=409, times=2,
                      body={"statusCode": 409, "message": "Version must be incremented on update. Current version is: 4"})
        message = await fail(client, "update-confluence-page",
                             {"page_id": guide, "title": "Deployment Guide", "content": "Step 2"})
        assert "Confluence answered 409" in message and "Current version is: 4" in message


async def test_429_is_retried_honouring_retry_after(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.fault(method="GET", path="/rest/api/2/issue/DEMO-2$", status=429, retry_after=1, times=1)
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        issue = await call(client, "get-jira-issue", {"issue_key": "DEMO-2"})
        assert "As a shopper I can pay with a saved card" in issue
    gets = [r["status"] for r in sandbox.requests() if r["method"] == "GET" and r["path"].endswith("/issue/DEMO-2")]
    assert gets[:2] == [429, 200]


async def test_writes_are_not_retried_by_default(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.fault(method="POST", path="/issue/DEMO-3/comment$", status=503, retry_after=0, times=1)
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        message = await fail(client, "comment-jira-issue", {"issue_key": "DEMO-3", "comment": "once"})
        assert "Jira answered 503" in message and "Injected fault" in message
    posts = [r for r in sandbox.requests() if r["method"] == "POST" and r["path"].endswith("/DEMO-3/comment")]
    assert len(posts) == 1

    sandbox.fault(method="POST", path="/issue/DEMO-3/comment$", status=503, retry_after=0, times=1)
    env = {**sandbox.env(ALICE), "ATLASSIAN_RETRY_WRITES": "true"}
    async with legacy_client(env, tmp_path) as client:
        done = await call(client, "comment-jira-issue", {"issue_key": "DEMO-3", "comment": "retried"})
        assert "retried" in done


async def test_timeout_and_malformed_body(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset()
    env = {**sandbox.env(ALICE), "JIRA_TIMEOUT": "0.5", "ATLASSIAN_MAX_RETRIES": "0"}
    sandbox.fault(method="GET", path="/rest/api/2/issue/DEMO-4$", latency_ms=2000, times=1)
    async with legacy_client(env, tmp_path) as client:
        message = await fail(client, "get-jira-issue", {"issue_key": "DEMO-4"})
        assert "Jira did not answer within 0.5s" in message
        sandbox.fault(method="GET", path="/rest/api/2/issue/DEMO-5$", malformed=True, times=1)
        broken = await fail(client, "get-jira-issue", {"issue_key": "DEMO-5"})
        assert "not JSON" in broken
