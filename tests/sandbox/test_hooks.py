"""The test hooks and the middleware: health, reset, faults, the request log, authentication."""

from __future__ import annotations

import httpx

from atlassian_sandbox.seed import ALICE, USERS, VIEWER
from tests.conftest import SandboxServer


def test_health_names_the_mode(sandbox: SandboxServer) -> None:
    response = httpx.get(f"{sandbox.url}/__sandbox/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mode": sandbox.mode}


def test_missing_credentials_get_401_with_challenges_in_jira_shape(sandbox: SandboxServer) -> None:
    response = httpx.get(f"{sandbox.jira_url}/rest/api/2/myself", timeout=5)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert "Basic realm=" in challenge and "Bearer" in challenge
    body = response.json()
    assert body["errors"] == {} and "not authenticated" in body["errorMessages"][0]


def test_bad_credentials_get_401_in_confluence_shape(sandbox: SandboxServer) -> None:
    response = httpx.get(
        f"{sandbox.confluence_url}/rest/api/space",
        auth=httpx.BasicAuth(ALICE.email, "wrong-token"),
        timeout=5,
    )
    assert response.status_code == 401
    assert "Basic" in response.headers["www-authenticate"]
    body = response.json()
    assert body["statusCode"] == 401 and body["reason"] == "Unauthorized" and body["message"]


def test_cloud_basic_needs_the_email_and_dc_basic_the_name(sandbox: SandboxServer) -> None:
    wrong_login = ALICE.name if sandbox.mode == "cloud" else ALICE.email
    wrong = httpx.get(
        f"{sandbox.url}/rest/api/2/myself", auth=httpx.BasicAuth(wrong_login, ALICE.api_token), timeout=5
    )
    assert wrong.status_code == 401
    right = httpx.get(f"{sandbox.url}/rest/api/2/myself", auth=sandbox.auth(ALICE), timeout=5)
    assert right.status_code == 200


def test_every_user_signs_in_with_a_personal_token(sandbox: SandboxServer) -> None:
    for user in USERS.values():
        response = httpx.get(
            f"{sandbox.url}/rest/api/2/myself",
            headers={"Authorization": f"Bearer {user.personal_token}"},
            timeout=5,
        )
        assert response.status_code == 200, user.name
        assert response.json()["displayName"] == user.display_name


def test_request_log_names_the_user_and_never_the_credentials(sandbox: SandboxServer) -> None:
    sandbox.reset()
    httpx.get(f"{sandbox.url}/rest/api/2/myself?x=1", auth=sandbox.auth(VIEWER), timeout=5)
    httpx.get(f"{sandbox.url}/rest/api/2/myself", timeout=5)
    log = sandbox.requests()
    assert log == [
        {"method": "GET", "path": "/rest/api/2/myself", "query": "x=1", "user": "viewer", "status": 200},
        {"method": "GET", "path": "/rest/api/2/myself", "query": "", "user": None, "status": 401},
    ]
    raw = httpx.get(f"{sandbox.url}/__sandbox/requests", timeout=5).text
    assert VIEWER.api_token not in raw and VIEWER.email not in raw
    sandbox.clear_requests()
    assert sandbox.requests() == []


def test_reset_clears_faults_and_the_log(sandbox: SandboxServer) -> None:
    sandbox.fault(method="*", path="myself", status=500, times=5)
    httpx.get(f"{sandbox.url}/rest/api/2/myself", auth=sandbox.auth(ALICE), timeout=5)
    sandbox.reset()
    assert sandbox.requests() == []
    response = httpx.get(f"{sandbox.url}/rest/api/2/myself", auth=sandbox.auth(ALICE), timeout=5)
    assert response.status_code == 200


def test_a_429_fault_sets_retry_after_then_the_request_succeeds(sandbox: SandboxServer) -> None:
    sandbox.reset()
    sandbox.fault(method="GET", path=r"/rest/api/2/myself$", status=429, retry_after=2, times=2)
    url = f"{sandbox.url}/rest/api/2/myself"
    for _ in range(2):
        limited = httpx.get(url, auth=sandbox.auth(ALICE), timeout=5)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2"
        assert limited.json()["errorMessages"]
    assert httpx.get(url, auth=sandbox.auth(ALICE), timeout=5).status_code == 200
    assert [r["status"] for r in sandbox.requests()] == [429, 429, 200]


def test_a_fault_only_hits_its_method_and_path(sandbox: SandboxServer) -> None:
    sandbox.reset()
    sandbox.fault(method="POST", path="/rest/api/content", status=503, retry_after=1)
    page = httpx.get(f"{sandbox.confluence_url}/rest/api/space", auth=sandbox.auth(ALICE), timeout=5)
    assert page.status_code == 200
    mine = httpx.get(f"{sandbox.url}/rest/api/2/myself", auth=sandbox.auth(ALICE), timeout=5)
    assert mine.status_code == 200
    posted = httpx.post(
        f"{sandbox.confluence_url}/rest/api/content", json={}, auth=sandbox.auth(ALICE), timeout=5
    )
    assert posted.status_code == 503
    assert posted.headers["retry-after"] == "1"
    assert posted.json()["statusCode"] == 503
    sandbox.clear_faults()


def test_a_malformed_fault_answers_200_with_broken_json(sandbox: SandboxServer) -> None:
    sandbox.reset()
    sandbox.fault(path="/myself", malformed=True)
    response = httpx.get(f"{sandbox.url}/rest/api/2/myself", auth=sandbox.auth(ALICE), timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    try:
        response.json()
    except ValueError:
        pass
    else:
        raise AssertionError("the body parsed as JSON")


def test_a_latency_fault_delays_then_serves_normally(sandbox: SandboxServer) -> None:
    sandbox.reset()
    sandbox.fault(path="/myself", latency_ms=300)
    # A client timeout shorter than the injected latency proves the delay without timing anything.
    try:
        httpx.get(f"{sandbox.url}/rest/api/2/myself", auth=sandbox.auth(ALICE), timeout=0.05)
    except httpx.ReadTimeout:
        pass
    else:
        raise AssertionError("the request was not delayed")
    response = httpx.get(f"{sandbox.url}/rest/api/2/myself", auth=sandbox.auth(ALICE), timeout=5)
    assert response.status_code == 200


def test_bad_fault_specs_are_refused(sandbox: SandboxServer) -> None:
    for spec in ({"path": "("}, {"status": 99}, {"times": 0}, {"colour": "red"}, [1]):
        response = httpx.post(f"{sandbox.url}/__sandbox/faults", json=spec, timeout=5)
        assert response.status_code == 400, spec
        assert response.json()["error"]


def test_a_fault_can_carry_its_own_body(sandbox: SandboxServer) -> None:
    sandbox.reset()
    sandbox.fault(method="GET", path="/serverInfo", status=500, body={"custom": True})
    response = httpx.get(f"{sandbox.url}/rest/api/2/serverInfo", auth=sandbox.auth(ALICE), timeout=5)
    assert response.status_code == 500 and response.json() == {"custom": True}
    assert "retry-after" not in response.headers


def test_unknown_routes_and_methods_answer_in_the_service_shape(sandbox: SandboxServer) -> None:
    auth = sandbox.auth(ALICE)
    missing_jira = httpx.get(f"{sandbox.url}/rest/api/2/nothing-here", auth=auth, timeout=5)
    missing_wiki = httpx.get(f"{sandbox.confluence_url}/rest/api/nothing-here", auth=auth, timeout=5)
    wrong_method = httpx.patch(f"{sandbox.url}/rest/api/2/myself", auth=auth, timeout=5)
    assert missing_jira.status_code == 404 and missing_jira.json()["errorMessages"]
    assert missing_wiki.status_code == 404 and missing_wiki.json()["statusCode"] == 404
    assert wrong_method.status_code == 405 and wrong_method.json()["errorMessages"]
