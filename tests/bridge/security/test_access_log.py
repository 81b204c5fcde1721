"""The access log: one `bridge.access` line per request, with the forwarded client, method, path
without its query, status, session id and duration, and no secret."""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

import httpx

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import HEADERS, answer, call, initialize, post, session, text_of

TOKEN = "access-log-token-0123456789"
MAPPED = "mapped-header-secret-value"


def access_entries(log: str) -> list[dict[str, Any]]:
    """The access lines after the test's start-up polls of /healthz."""
    entries: list[dict[str, Any]] = []
    for line in log.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["logger"] == "bridge.access" and (entries or entry["path"] != "/healthz"):
                entries.append(entry)
    return entries


def test_one_json_line_per_request_with_fields_and_no_secret(bridge: BridgeFactory) -> None:
    options = ("--log-format", "json", "--trusted-proxy", "127.0.0.1", "--auth-token", TOKEN,
               "--header-env", "X-Echo-Tag=ECHO_TAG")
    headers = {"authorization": f"Bearer {TOKEN}", "x-echo-tag": MAPPED, "x-forwarded-for": "203.0.113.7"}
    with bridge(*options) as b, httpx.Client(timeout=20, headers=headers) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)  # initialize, then notifications/initialized
        assert text_of(answer(post(client, url, session_id, call(1, "echo", text="hi")))) == "hi"
        assert client.delete(url, headers={"mcp-session-id": session_id}).status_code == 204
        with client.stream("GET", b.url + "/sse", headers={"accept": "text/event-stream"}) as stream:
            lines = stream.iter_lines()
            endpoint = next(line for line in lines if line.startswith("data: "))[len("data: "):]
            sse_id = endpoint.partition("session_id=")[2]
            ping = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
            assert client.post(b.url + endpoint, json=ping).status_code == 202
            next(line for line in lines if line.startswith("data: "))
        assert client.get(b.url + "/nowhere?token=query-secret").status_code == 404
        assert httpx.get(b.url + "/mcp", headers={"authorization": "Bearer wrong-token-xyz"}).status_code == 401
        assert client.get(b.url + "/healthz").status_code == 200
    log = b.log()
    entries = access_entries(log)
    # A stream's line comes when the bridge sees it closed (at a keep-alive write, or at shutdown).
    (sse_line,) = [e for e in entries if e["path"] == "/sse"]
    assert (sse_line["method"], sse_line["status"], sse_line["session_id"]) == ("GET", 200, sse_id)
    for entry in entries:
        assert set(entry) == {"ts", "level", "logger", "session", "msg", "client", "method", "path", "status",
                              "session_id", "duration_ms"}
        assert entry["level"] == "info"
        assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
        assert entry["session"] == entry["session_id"]
    entries.remove(sse_line)
    seen = [(e["method"], e["path"], e["status"], e["session_id"]) for e in entries]
    assert seen == [
        ("POST", "/mcp", 200, session_id), ("POST", "/mcp", 202, session_id), ("POST", "/mcp", 200, session_id),
        ("DELETE", "/mcp", 204, session_id), ("POST", "/messages", 202, sse_id), ("GET", "/nowhere", 404, "-"),
        ("GET", "/mcp", 401, "-"), ("GET", "/healthz", 200, "-"),
    ], seen
    clients = [e["client"] for e in entries]
    assert clients == ["203.0.113.7"] * 6 + ["127.0.0.1", "203.0.113.7"]  # forwarded by the trusted peer; 401 direct
    assert sse_line["client"] == "203.0.113.7"
    for secret in (TOKEN, MAPPED, "wrong-token-xyz", "query-secret"):
        assert secret not in log
    assert "Traceback" not in log


def test_a_text_line_per_request_and_status_0_for_a_client_that_left(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        assert client.get(url, headers={"accept": "text/html", "mcp-session-id": session_id}).status_code == 406
        with client.stream("GET", url, headers={"accept": "text/event-stream", "mcp-session-id": session_id}) as s:
            assert s.status_code == 200
        assert client.delete(url, headers={**HEADERS, "mcp-session-id": session_id}).status_code == 204
        with socket.create_connection(("127.0.0.1", int(b.url.rsplit(":", 1)[1])), timeout=10) as raw:
            raw.sendall(b"POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{")
        deadline = time.monotonic() + 10  # the bridge notices the cut request soon after
        while " 0 - " not in b.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "Traceback" not in b.log()
    lines = [line for line in b.log().splitlines() if " bridge.access " in line and " /healthz " not in line]
    pattern = re.compile(r"INFO bridge\.access \[-\] 127\.0\.0\.1 (\w+) (/\S*) (\d+) (\S+) (\d+\.\d)ms$")
    parsed = [pattern.search(line) for line in lines]
    assert all(parsed), lines
    got = sorted((m.group(1), m.group(2), m.group(3), m.group(4)) for m in parsed if m)
    assert got == sorted([("POST", "/mcp", "200", session_id), ("POST", "/mcp", "202", session_id),
                          ("GET", "/mcp", "406", session_id), ("GET", "/mcp", "200", session_id),
                          ("DELETE", "/mcp", "204", session_id), ("POST", "/mcp", "0", "-")]), got


def test_log_level_warning_writes_no_access_line(bridge: BridgeFactory) -> None:
    with bridge("--log-level", "warning") as b, httpx.Client(timeout=20) as client, session(client, b.url + "/mcp"):
        pass
    assert "bridge.access" not in b.log() and "Traceback" not in b.log()
