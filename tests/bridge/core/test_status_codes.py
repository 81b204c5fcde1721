"""The Streamable HTTP status-code table, one row per test; every non-empty error body is JSON-RPC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import HEADERS, INIT_PARAMS, answer, call, post, request, session, text_of
from tests.support.procs import Started, descendants, wait_no_descendants

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served(bridge: BridgeFactory) -> Iterator[tuple[Started, httpx.Client, str]]:
    with bridge("--max-body-size", "2000") as b, httpx.Client(timeout=20) as client:
        yield b, client, b.url + "/mcp"


def error_of(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == code and body["error"]["message"]
    return dict(body)


def test_202_for_notification_and_response(served: tuple[Started, httpx.Client, str]) -> None:
    _, client, url = served
    with session(client, url) as session_id:
        note = post(client, url, session_id, {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
        assert note.status_code == 202 and note.content == b""
        reply = post(client, url, session_id, {"jsonrpc": "2.0", "id": 99, "result": {}})
        assert reply.status_code == 202 and reply.content == b""


def test_400_request_without_session_id(served: tuple[Started, httpx.Client, str]) -> None:
    b, client, url = served
    got = client.post(url, json=call(3, "echo", text="x"), headers=HEADERS)
    assert error_of(got, 400, -32600)["id"] == 3
    assert not descendants(b.pid)


def test_404_unknown_session(served: tuple[Started, httpx.Client, str]) -> None:
    _, client, url = served
    error_of(post(client, url, "no-such-session", call(1, "echo", text="x")), 404, -32600)
    error_of(client.get(url, headers={**HEADERS, "mcp-session-id": "nope"}), 404, -32600)
    error_of(client.delete(url, headers={"mcp-session-id": "nope"}), 404, -32600)


def test_an_established_session_takes_any_protocol_version_header(served: tuple[Started, httpx.Client, str]) -> None:
    """Clients in the field send 2026-07-28 after negotiating 2025-11-25: the session stays usable."""
    b, client, url = served
    with session(client, url) as session_id:
        for n, version in enumerate(("2026-07-28", "1999-01-01", "2025-11-25"), start=1):
            headers = {**HEADERS, "mcp-session-id": session_id, "mcp-protocol-version": version}
            assert answer(client.post(url, json=request(n, "ping"), headers=headers))["result"] == {}
    assert "client sends MCP-Protocol-Version '2026-07-28'" in b.log()
    assert b.log().count("client sends MCP-Protocol-Version") == 1  # once per session


def test_2026_header_without_the_envelope_gets_400_naming_every_served_version(
    served: tuple[Started, httpx.Client, str],
) -> None:
    """Without a session and without the 2026-07-28 `_meta` envelope the request is not one of that
    revision (the era is read from the body), and its header names no handshake version: -32022.
    (`--no-modern` lists the handshake versions only: tests/bridge/modern/test_no_modern.py.)"""
    b, client, url = served
    headers = {**HEADERS, "mcp-protocol-version": "2026-07-28"}
    body = error_of(client.post(url, json=request(1, "server/discover", {}), headers=headers), 400, -32022)
    assert body["error"]["data"]["supported"] == ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26",
                                                  "2024-11-05"]
    assert body["id"] == 1  # the request's own id, so clients show the protocol error
    error_of(client.post(url, json=request(2, "tools/list", {}), headers=headers), 400, -32022)
    assert not descendants(b.pid)  # no child for a probe


def test_406_accept(served: tuple[Started, httpx.Client, str]) -> None:
    _, client, url = served
    init = request(0, "initialize", INIT_PARAMS)
    error_of(client.post(url, json=init, headers={**HEADERS, "accept": "application/json"}), 406, -32600)
    error_of(client.post(url, json=init, headers={**HEADERS, "accept": "text/html"}), 406, -32600)
    with session(client, url) as session_id:
        got = client.get(url, headers={"accept": "application/json", "mcp-session-id": session_id})
        error_of(got, 406, -32600)


def test_415_content_type(served: tuple[Started, httpx.Client, str]) -> None:
    _, client, url = served
    got = client.post(url, content=b"{}", headers={**HEADERS, "content-type": "text/plain"})
    error_of(got, 415, -32600)


def test_413_body_too_large(served: tuple[Started, httpx.Client, str]) -> None:
    _, client, url = served
    with session(client, url) as session_id:
        error_of(post(client, url, session_id, call(1, "echo", text="z" * 5000)), 413, -32600)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
            yield b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
            for _ in range(10):
                yield b"p" * 500
            yield b'"}}'

        streamed = client.post(url, content=chunks(), headers={**HEADERS, "mcp-session-id": session_id})
        error_of(streamed, 413, -32600)
        assert text_of(answer(post(client, url, session_id, call(2, "echo", text="ok")))) == "ok"


def test_400_parse_error(served: tuple[Started, httpx.Client, str]) -> None:
    _, client, url = served
    with session(client, url) as session_id:
        for bad in (b"{not json", b'{"a":1} {"b":2}', b""):
            got = client.post(url, content=bad, headers={**HEADERS, "mcp-session-id": session_id})
            assert error_of(got, 400, -32700)["id"] is None


@pytest.mark.parametrize("bad", [
    {"jsonrpc": "2.0", "id": 5, "method": None},
    {"jsonrpc": "2.0", "id": 5, "method": 7},
    {"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": True, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"},
    {"jsonrpc": "2.0", "params": {}},
    [1, 2],
])
def test_400_invalid_request(served: tuple[Started, httpx.Client, str], bad: Any) -> None:
    """A message routing cannot rely on is refused before the child sees it; only a valid id is echoed."""
    _, client, url = served
    with session(client, url) as session_id:
        body = error_of(post(client, url, session_id, bad), 400, -32600)
        assert body["id"] == (5 if isinstance(bad, dict) and bad.get("id") == 5 else None)
        assert text_of(answer(post(client, url, session_id, call(2, "echo", text="ok")))) == "ok"
    got = client.post(url, json={"jsonrpc": "2.0", "id": [1], "method": "initialize", "params": INIT_PARAMS},
                      headers=HEADERS)
    assert error_of(got, 400, -32600)["id"] is None


def test_503_with_retry_after_at_max_sessions(bridge: BridgeFactory) -> None:
    with bridge("--max-sessions", "1") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url):
            full = client.post(url, json=request(0, "initialize", INIT_PARAMS), headers=HEADERS)
            error_of(full, 503, -32603)
            assert int(full.headers["retry-after"]) > 0
            sse = client.get(b.url + "/sse")
            assert sse.status_code == 503 and sse.headers["retry-after"]
        # The slot frees once the first session's child has been ended and reaped.
        assert not wait_no_descendants(b.pid)
        for _ in range(100):
            again = client.post(url, json=request(0, "initialize", INIT_PARAMS), headers=HEADERS)
            if again.status_code != 503:
                break
            time.sleep(0.05)
        assert again.status_code == 200
        client.delete(url, headers={"mcp-session-id": again.headers["mcp-session-id"]})


def test_405_and_404_for_stray_requests(served: tuple[Started, httpx.Client, str]) -> None:
    b, client, url = served
    error_of(client.put(url, json={}), 405, -32600)
    error_of(client.get(b.url + "/nothing-here"), 404, -32600)
    health = client.get(b.url + "/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert client.get(b.url + "/health").json() == {"status": "ok"}


def test_failed_initialize_mints_no_session(bridge: BridgeFactory) -> None:
    """An initialize the child does not accept: its answer is forwarded, no session id, child ended."""
    with bridge() as b, httpx.Client(timeout=20) as client:
        got = client.post(b.url + "/mcp", json=request(0, "initialize", {"protocolVersion": 5}), headers=HEADERS)
        assert got.status_code == 200 and "mcp-session-id" not in got.headers
        assert answer(got)["id"] == 0
        assert not wait_no_descendants(b.pid)
