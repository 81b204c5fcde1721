"""The middleware in front of a real uvicorn server on 127.0.0.1, hit with httpx."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import pytest

from bridge.config import Settings
from bridge.http import HttpError
from bridge.security import MissingPolicy

from .conftest import Serve, eventually

pytestmark = pytest.mark.anyio

TOKEN_A = "token-a-0123456789abcdef"
TOKEN_B = "token-b-fedcba9876543210"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def accepted(client: httpx.AsyncClient, token: str) -> bool:
    return (await client.get("/mcp", headers=bearer(token))).status_code == 200


def assert_jsonrpc_error(response: httpx.Response, status: int) -> str:
    """The body is a JSON-RPC error object a client can show; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert isinstance(body["error"]["code"], int)
    message: str = body["error"]["message"]
    assert message
    return message


async def test_loopback_without_tokens_serves_without_auth(serve: Serve) -> None:
    async with serve() as client:
        r = await client.get("/mcp")
        assert r.status_code == 200
        assert r.json() == {"credential_id": None, "client": "127.0.0.1", "scheme": "http"}


async def test_missing_token_is_401_with_www_authenticate(serve: Serve) -> None:
    async with serve(Settings(auth_tokens=(TOKEN_A,))) as client:
        r = await client.post("/mcp", json={})
        message = assert_jsonrpc_error(r, 401)
        assert "Bearer" in message
        assert r.headers["www-authenticate"] == 'Bearer realm="mcp-bridge"'
        basic = await client.get("/mcp", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert_jsonrpc_error(basic, 401)
        assert basic.headers["www-authenticate"] == 'Bearer realm="mcp-bridge"'


async def test_wrong_token_is_401_invalid_token(serve: Serve) -> None:
    async with serve(Settings(auth_tokens=(TOKEN_A,))) as client:
        r = await client.get("/mcp", headers=bearer(TOKEN_B))
        assert_jsonrpc_error(r, 401)
        assert r.headers["www-authenticate"] == 'Bearer realm="mcp-bridge", error="invalid_token"'
        assert TOKEN_B not in r.text


async def test_credential_ids_are_stable_per_token_and_distinct_across_tokens(serve: Serve) -> None:
    async with serve(Settings(auth_tokens=(TOKEN_A, TOKEN_B))) as client:
        a1 = (await client.get("/mcp", headers=bearer(TOKEN_A))).json()["credential_id"]
        a2 = (await client.post("/mcp", headers={"authorization": f"bearer  {TOKEN_A}"})).json()["credential_id"]
        b1 = (await client.get("/mcp", headers=bearer(TOKEN_B))).json()["credential_id"]
    assert isinstance(a1, str) and isinstance(b1, str)
    assert a1 == a2
    assert a1 != b1
    assert TOKEN_A not in a1 and TOKEN_B not in b1


async def test_bad_host_is_421_and_wildcard_ports_match(serve: Serve) -> None:
    settings = Settings(allowed_hosts=("app.example:8443", "wild.example:*"))
    async with serve(settings) as client:
        r = await client.get("/mcp", headers={"Host": "evil.example"})
        assert "evil.example" in assert_jsonrpc_error(r, 421)
        for ok in ("localhost:5555", "127.0.0.1:1", "[::1]:80", "LOCALHOST:9", "app.example:8443",
                   "wild.example", "wild.example:1234"):
            assert (await client.get("/mcp", headers={"Host": ok})).status_code == 200, ok
        for bad in ("app.example:8444", "app.example", "localhost.evil.example", "127.0.0.2:80"):
            assert (await client.get("/mcp", headers={"Host": bad})).status_code == 421, bad


async def test_host_star_allows_all(serve: Serve) -> None:
    async with serve(Settings(allowed_hosts=("*",))) as client:
        assert (await client.get("/mcp", headers={"Host": "anything.example:1"})).status_code == 200


async def test_bad_origin_is_403_and_requests_without_origin_pass(serve: Serve) -> None:
    settings = Settings(allowed_origins=("https://app.example",))
    async with serve(settings) as client:
        r = await client.post("/mcp", headers={"Origin": "https://evil.example"}, json={})
        assert "https://evil.example" in assert_jsonrpc_error(r, 403)
        for ok in ("http://localhost:3000", "http://127.0.0.1:6274", "https://app.example"):
            assert (await client.post("/mcp", headers={"Origin": ok}, json={})).status_code == 200, ok
        for bad in ("https://localhost:3000", "https://app.example:8443", "null", "http://app.example"):
            assert (await client.post("/mcp", headers={"Origin": bad}, json={})).status_code == 403, bad
        assert (await client.post("/mcp", json={})).status_code == 200


async def test_host_is_checked_before_origin_and_auth(serve: Serve) -> None:
    async with serve(Settings(auth_tokens=(TOKEN_A,))) as client:
        r = await client.get("/mcp", headers={"Host": "evil.example", "Origin": "https://evil.example"})
        assert r.status_code == 421
        r = await client.get("/mcp", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
async def test_probes_skip_auth_origin_and_host(serve: Serve, path: str) -> None:
    async with serve(Settings(auth_tokens=(TOKEN_A,))) as client:
        r = await client.get(path, headers={"Host": "10.1.2.3:8080", "Origin": "https://evil.example"})
        assert r.status_code == 200
        assert r.text == "ok"
        assert (await client.get("/mcp", headers={"Host": "10.1.2.3:8080"})).status_code == 421


async def test_forwarding_headers_from_a_trusted_proxy_are_honoured(serve: Serve) -> None:
    settings = Settings(trusted_proxies=("127.0.0.0/8",), allowed_hosts=("public.example",))
    async with serve(settings) as client:
        r = await client.get("/mcp", headers={
            "Host": "internal:9000", "X-Forwarded-Host": "public.example",
            "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7, 127.0.0.1",
        })
        assert r.status_code == 200, r.text
        assert r.json()["client"] == "203.0.113.7"
        assert r.json()["scheme"] == "https"
        r = await client.get("/mcp", headers={"X-Forwarded-Host": "evil.example"})
        assert r.status_code == 421
        r = await client.get("/mcp", headers={
            "Host": "internal:9000",
            "Forwarded": 'for="[2001:db8::1]:4711";host=public.example;proto=https, for=127.0.0.1',
        })
        assert r.status_code == 200, r.text
        assert r.json()["client"] == "2001:db8::1"
        assert r.json()["scheme"] == "https"


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored(serve: Serve) -> None:
    settings = Settings(trusted_proxies=("10.0.0.0/8",), allowed_hosts=("public.example",))
    async with serve(settings) as client:
        r = await client.get("/mcp", headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-For": "203.0.113.7",
                                               "X-Forwarded-Proto": "https"})
        assert r.status_code == 200
        assert r.json()["client"] == "127.0.0.1"
        assert r.json()["scheme"] == "http"
        r = await client.get("/mcp", headers={"Host": "internal:9000", "Forwarded": "host=public.example"})
        assert r.status_code == 421


async def test_cors_preflight_and_exposed_session_header(serve: Serve) -> None:
    origin = "https://inspector.example"
    settings = Settings(cors_origins=(origin,), auth_tokens=(TOKEN_A,),
                                header_env=("X-Jira-Token=JIRA_API_TOKEN",))
    async with serve(settings) as client:
        pre = await client.options("/mcp", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id",
        })
        assert pre.status_code == 204
        assert pre.content == b""
        assert pre.headers["access-control-allow-origin"] == origin
        assert pre.headers["vary"] == "Origin"
        methods = {m.strip() for m in pre.headers["access-control-allow-methods"].split(",")}
        assert methods == {"GET", "POST", "DELETE", "OPTIONS"}
        allowed = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "accept", "mcp-session-id", "mcp-protocol-version",
                "last-event-id", "x-jira-token"} <= allowed

        r = await client.post("/mcp", headers={"Origin": origin, **bearer(TOKEN_A)}, json={})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert "Mcp-Session-Id" in r.headers["access-control-expose-headers"]
        assert r.headers["mcp-session-id"] == "s-1"

        refused = await client.post("/mcp", headers={"Origin": origin}, json={})
        assert_jsonrpc_error(refused, 401)
        assert refused.headers["access-control-allow-origin"] == origin


async def test_cors_is_opt_in_per_origin(serve: Serve) -> None:
    settings = Settings(cors_origins=("https://inspector.example",))
    async with serve(settings) as client:
        # Allowed as an Origin (a loopback default), but not for CORS: no preflight, no CORS headers.
        pre = await client.options("/mcp", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
        assert_jsonrpc_error(pre, 403)
        assert "access-control-allow-origin" not in pre.headers
        r = await client.post("/mcp", headers={"Origin": "http://localhost:3000"}, json={})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers
        pre = await client.options("/mcp", headers={
            "Origin": "https://other.example", "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 403
    async with serve() as client:
        pre = await client.options("/mcp", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 403


async def test_cors_star_allows_every_origin(serve: Serve) -> None:
    async with serve(Settings(cors_origins=("*",))) as client:
        origin = "https://anywhere.example:8443"
        pre = await client.options("/mcp", headers={"Origin": origin, "Access-Control-Request-Method": "DELETE"})
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == origin
        r = await client.delete("/mcp", headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert "access-control-allow-credentials" not in r.headers


async def test_every_refusal_is_reported_with_its_status_and_reason(serve: Serve) -> None:
    reported: list[tuple[int, str]] = []

    def on_error(error: HttpError) -> None:
        reported.append((error.status, error.reason))

    settings = Settings(auth_tokens=(TOKEN_A,), cors_origins=("https://inspector.example",))
    async with serve(settings, on_error=on_error) as client:
        await client.get("/mcp", headers={"Host": "evil.example"})
        await client.get("/mcp", headers={"Origin": "https://evil.example"})
        await client.options("/mcp", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
        await client.get("/mcp")
        await client.get("/mcp", headers=bearer(TOKEN_B))
        await client.get("/mcp", headers=bearer(TOKEN_A))
        await client.get("/healthz", headers={"Host": "evil.example"})
    assert reported == [(421, "host_not_allowed"), (403, "origin_not_allowed"), (403, "cors_not_enabled"),
                        (401, "unauthorized"), (401, "unauthorized")]


async def test_token_file_is_reloaded_without_restart(serve: Serve, tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# bridge tokens\n\n{TOKEN_A}\n")
    async with serve(Settings(auth_token_file=path)) as client:
        assert (await client.get("/mcp", headers=bearer(TOKEN_A))).status_code == 200
        assert (await client.get("/mcp", headers=bearer(TOKEN_B))).status_code == 401
        path.write_text(f"# rotated\n{TOKEN_B}\n")
        await eventually(lambda: accepted(client, TOKEN_B))
        assert (await client.get("/mcp", headers=bearer(TOKEN_A))).status_code == 401


async def test_header_env_maps_only_mapped_headers(serve: Serve) -> None:
    settings = Settings(header_env=("X-Jira-Token=JIRA_API_TOKEN", "x-jira-email=JIRA_USERNAME"))
    async with serve(settings) as client:
        r = await client.post("/session", headers={
            "X-Jira-Token": "user-token-1", "X-JIRA-EMAIL": "u1@example.com", "X-Other": "nope",
        })
        assert r.status_code == 200
        env = r.json()
        assert env == {"JIRA_API_TOKEN": "user-token-1", "JIRA_USERNAME": "u1@example.com", "KEEP_ME": "1"}


@pytest.mark.parametrize(("policy", "status"), [("401", 401), ("400", 400)])
async def test_missing_mapped_header_is_refused_per_option(serve: Serve, policy: MissingPolicy,
                                                          status: int) -> None:
    settings = Settings(header_env=("X-Jira-Token=JIRA_API_TOKEN", "X-Jira-Email=JIRA_USERNAME"),
                                header_env_missing=policy)
    async with serve(settings) as client:
        r = await client.post("/session", headers={"X-Jira-Email": "secret-mail@example.com"})
        message = assert_jsonrpc_error(r, status)
        assert "X-Jira-Token" in message
        assert "secret-mail" not in r.text
        assert ("www-authenticate" in r.headers) == (status == 401)


async def test_missing_mapped_header_allowed_leaves_the_variable_unset(serve: Serve) -> None:
    settings = Settings(header_env=("X-Jira-Token=JIRA_API_TOKEN",), header_env_missing="allow")
    async with serve(settings) as client:
        r = await client.post("/session")
        assert r.status_code == 200
        assert r.json() == {"KEEP_ME": "1"}  # never the bridge's own JIRA_API_TOKEN


async def test_each_session_gets_its_own_values(serve: Serve) -> None:
    settings = Settings(header_env=("X-Jira-Token=JIRA_API_TOKEN",))
    results: dict[str, str] = {}
    async with serve(settings) as client:

        async def one(user: str) -> None:
            r = await client.post("/session", headers={"X-Jira-Token": f"tok-{user}"})
            results[user] = r.json()["JIRA_API_TOKEN"]

        async with anyio.create_task_group() as tg:
            for user in ("u1", "u2", "u3", "u4"):
                tg.start_soon(one, user)
    assert results == {u: f"tok-{u}" for u in ("u1", "u2", "u3", "u4")}


async def test_no_token_or_header_value_is_logged(serve: Serve, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    secrets_sent = [TOKEN_A, TOKEN_B, "wrong-token-31415926", "header-secret-27182818", "mail-secret@x.example"]
    path = tmp_path / "tokens"
    path.write_text(f"{TOKEN_A}\n")
    settings = Settings(auth_token_file=path, header_env=("X-Jira-Token=JIRA_API_TOKEN",
                                                                  "X-Jira-Email=JIRA_USERNAME"))
    caplog.set_level("DEBUG")
    async with serve(settings) as client:
        await client.get("/mcp", headers=bearer("wrong-token-31415926"))
        await client.get("/mcp", headers={"Authorization": "wrong-token-31415926"})
        await client.post("/session", headers={**bearer(TOKEN_A), "X-Jira-Token": "header-secret-27182818"})
        await client.post("/session", headers={**bearer(TOKEN_A), "X-Jira-Email": "mail-secret@x.example"})
        await client.get("/mcp", headers={**bearer(TOKEN_A), "Host": "evil.example"})
        path.write_text(f"{TOKEN_B}\n")
        await eventually(lambda: accepted(client, TOKEN_B))
        path.write_bytes(b"\xff\xfe not utf-8 " + TOKEN_A.encode() + b"\n")

        async def reload_failure_logged() -> bool:
            await client.get("/mcp", headers=bearer(TOKEN_B))
            return "cannot be read" in caplog.text

        await eventually(reload_failure_logged)
    logged = caplog.text + json.dumps([r.args for r in caplog.records], default=str)
    assert "refused" in logged and "reloaded" in logged  # the logs did see these requests
    for secret in secrets_sent:
        assert secret not in logged, secret
