"""The security layer inside a real `bridge run` process: auth, Host/Origin, CORS, session binding,
per-session credentials from headers, and start-up refusals."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import HEADERS, INIT_PARAMS, answer, call, post, request, session, text_of
from tests.support.procs import script

TOKEN_A = "token-alpha-0123456789"
TOKEN_B = "token-bravo-9876543210"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def error_message(response: httpx.Response) -> str:
    body = response.json()
    assert body["jsonrpc"] == "2.0" and isinstance(body["error"]["code"], int)
    return str(body["error"]["message"])


def init_body() -> dict[str, object]:
    return request(0, "initialize", INIT_PARAMS)


def test_401_without_or_with_a_wrong_token(bridge: BridgeFactory) -> None:
    with bridge("--auth-token", TOKEN_A) as b, httpx.Client(timeout=10) as client:
        url = b.url + "/mcp"
        missing = client.post(url, json=init_body(), headers=HEADERS)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert "Bearer" in error_message(missing)
        wrong = client.post(url, json=init_body(), headers={**HEADERS, **bearer(TOKEN_B)})
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        sse = client.get(b.url + "/sse", headers={"accept": "text/event-stream"})
        assert sse.status_code == 401
        assert client.get(b.url + "/healthz").status_code == 200  # probes need no token
        with httpx.Client(timeout=10, headers=bearer(TOKEN_A)) as authed, session(authed, url) as session_id:
            assert text_of(answer(post(authed, url, session_id, call(1, "echo", text="hi")))) == "hi"
    assert TOKEN_A not in b.log() and TOKEN_B not in b.log()


def test_421_for_a_host_not_allowed(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=10) as client:
        response = client.post(b.url + "/mcp", json=init_body(), headers={**HEADERS, "host": "evil.example:80"})
        assert response.status_code == 421
        assert "evil.example" in error_message(response)


def test_allowed_host_option(bridge: BridgeFactory) -> None:
    with bridge("--allowed-host", "mcp.example.com:*") as b, httpx.Client(timeout=10) as client:
        client.headers["host"] = "mcp.example.com:443"
        with session(client, b.url + "/mcp") as session_id:
            assert session_id


def test_403_for_an_origin_not_allowed(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=10) as client:
        response = client.post(b.url + "/mcp", json=init_body(), headers={**HEADERS, "origin": "https://evil.example"})
        assert response.status_code == 403
        assert "evil.example" in error_message(response)
        client.headers["origin"] = "http://localhost:3000"
        with session(client, b.url + "/mcp") as session_id:
            assert session_id


def test_a_session_used_with_another_token_is_404(bridge: BridgeFactory) -> None:
    with (
        bridge("--auth-token", f"{TOKEN_A},{TOKEN_B}") as b,
        httpx.Client(timeout=10, headers=bearer(TOKEN_A)) as alpha,
        httpx.Client(timeout=10, headers=bearer(TOKEN_B)) as bravo,
    ):
        url = b.url + "/mcp"
        with session(alpha, url) as session_id:
            check_stolen(alpha, bravo, url, session_id)


def check_stolen(alpha: httpx.Client, bravo: httpx.Client, url: str, session_id: str) -> None:
    """Every verb with the other token is 404; the owner goes on."""
    stolen = post(bravo, url, session_id, call(1, "echo", text="x"))
    assert stolen.status_code == 404
    assert error_message(stolen) == "Session not found"
    assert bravo.get(url, headers={"accept": "text/event-stream", "mcp-session-id": session_id}).status_code == 404
    assert bravo.delete(url, headers={"mcp-session-id": session_id}).status_code == 404
    # the owner is unharmed
    assert text_of(answer(post(alpha, url, session_id, call(2, "echo", text="mine")))) == "mine"


def test_a_legacy_sse_session_used_with_another_token_is_404(bridge: BridgeFactory) -> None:
    with (
        bridge("--auth-token", f"{TOKEN_A},{TOKEN_B}") as b,
        httpx.Client(timeout=10, headers=bearer(TOKEN_A)) as alpha,
        httpx.Client(timeout=10, headers=bearer(TOKEN_B)) as bravo,
        alpha.stream("GET", b.url + "/sse", headers={"accept": "text/event-stream"}) as stream,
    ):
        lines = stream.iter_lines()
        endpoint = next(line for line in lines if line.startswith("data: "))[len("data: "):]
        message = json.dumps(init_body())
        headers = {"content-type": "application/json"}
        assert bravo.post(b.url + endpoint, content=message, headers=headers).status_code == 404
        assert alpha.post(b.url + endpoint, content=message, headers=headers).status_code == 202
        data = next(line for line in lines if line.startswith("data: "))
        assert json.loads(data[len("data: "):])["id"] == 0


def test_cors_preflight_and_exposed_session_header(bridge: BridgeFactory) -> None:
    app = "https://app.example"
    with bridge("--cors-origin", app) as b, httpx.Client(timeout=10) as client:
        url = b.url + "/mcp"
        preflight = client.options(url, headers={
            "origin": app, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, mcp-session-id",
        })
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == app
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "mcp-session-id" in preflight.headers["access-control-allow-headers"].lower()
        answered = client.post(url, json=init_body(), headers={**HEADERS, "origin": app})
        assert answered.status_code == 200
        assert answered.headers["access-control-allow-origin"] == app
        assert "mcp-session-id" in answered.headers["access-control-expose-headers"].lower()
        client.delete(url, headers={"mcp-session-id": answered.headers["mcp-session-id"]})
        other = client.options(url, headers={"origin": "http://localhost:5173", "access-control-request-method": "POST"})
        assert other.status_code == 403  # allowed as an origin, but CORS is not enabled for it


@pytest.mark.parametrize(("policy", "status"), [("401", 401), ("400", 400)])
def test_missing_mapped_header_is_refused_per_option(bridge: BridgeFactory, policy: str, status: int) -> None:
    options = ("--header-env", "X-Echo-Tag=ECHO_TAG", "--header-env-missing", policy)
    with bridge(*options) as b, httpx.Client(timeout=10) as client:
        url = b.url + "/mcp"
        refused = client.post(url, json=init_body(), headers=HEADERS)
        assert refused.status_code == status
        assert "X-Echo-Tag" in error_message(refused)
        with httpx.Client(timeout=10, headers={"x-echo-tag": "from-header"}) as tagged, session(tagged, url) as sid:
            assert sid


def test_header_values_reach_only_their_own_child(bridge: BridgeFactory) -> None:
    env = {"ECHO_TAG": "the-operators-own"}
    with bridge("--header-env", "X-Echo-Tag=ECHO_TAG", env=env) as b:
        url = b.url + "/mcp"
        tags = {}
        for name in ("user-one-secret", "user-two-secret"):
            with httpx.Client(timeout=10, headers={"x-echo-tag": name}) as client, session(client, url) as sid:
                tags[name] = json.loads(text_of(answer(post(client, url, sid, call(1, "pid")))))["tag"]
        assert tags == {"user-one-secret": "user-one-secret", "user-two-secret": "user-two-secret"}
        log = b.log()
    assert "user-one-secret" not in log and "user-two-secret" not in log


def test_refuses_to_serve_beyond_loopback_without_auth() -> None:
    done = subprocess.run(
        [script("bridge"), "run", "--host", "0.0.0.0", "--port", "0", "--", "true"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "refusing to serve 0.0.0.0 without authentication" in done.stderr


def test_bad_security_option_is_named_at_start_up() -> None:
    done = subprocess.run(
        [script("bridge"), "run", "--header-env", "X-Path=PATH", "--trusted-proxy", "not-an-ip", "--", "true"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "PATH controls how programs run" in done.stderr
    assert "'not-an-ip' is not an IP address" in done.stderr


def test_a_placeholder_or_short_token_is_refused_at_start_one_json_line_each_in_json_mode() -> None:
    """A token left from an example file, or one short enough to guess, never guards a public
    address; with --log-format json each problem is one JSON log line, and no token is shown."""
    done = subprocess.run(
        [script("bridge"), "run", "--host", "0.0.0.0", "--port", "0", "--log-format", "json",
         "--auth-token", "change-me-to-a-long-random-token", "--auth-token", "s3cr3t", "--", "true"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert [line["level"] for line in lines] == ["error", "error"]
    assert "auth token #1 is a placeholder" in lines[0]["msg"]
    assert "auth token #2 has 6 characters" in lines[1]["msg"] and "at least 16" in lines[1]["msg"]
    assert "s3cr3t" not in done.stderr and "change-me-to-a-long" not in done.stderr
