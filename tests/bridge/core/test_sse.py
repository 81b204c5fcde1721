"""Legacy SSE through the bridge: the SDK client, the endpoint event, POST /messages, stream close."""

from __future__ import annotations

import json

import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import call, request
from tests.support.procs import descendants, wait_no_descendants

pytestmark = pytest.mark.timeout(60)


@pytest.mark.anyio
async def test_sdk_sse_client_default_mode(bridge: BridgeFactory) -> None:
    with bridge() as b:
        async with Client(sse_client(b.url + "/sse")) as client:
            result = await client.call_tool("echo", {"text": "over sse"})
            assert result.content[0].text == "over sse"  # type: ignore[union-attr]
            seen = json.loads((await client.call_tool("methods", {})).content[0].text)  # type: ignore[union-attr]
    assert "server/discover" not in seen and "initialize" in seen


def test_endpoint_event_honours_base_url_and_stream_close_ends_session(bridge: BridgeFactory) -> None:
    with bridge("--base-url", "https://public.example/prefix") as b, httpx.Client(timeout=20) as client:
        with client.stream("GET", b.url + "/sse") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache, no-transform"
            assert stream.headers["x-accel-buffering"] == "no"
            lines = stream.iter_lines()
            assert next(lines) == "event: endpoint"
            endpoint = next(lines)[len("data: ") :]
            assert endpoint.startswith("https://public.example/prefix/messages?session_id=")
            session_id = endpoint.split("=", 1)[1]
            assert len(descendants(b.pid)) == 1
            local = f"{b.url}/messages?session_id={session_id}"
            sent = client.post(local, json=call(1, "echo", text="x"))
            assert sent.status_code == 202 and sent.content == b""
            next(lines)  # blank line after the endpoint event
            assert next(lines) == "event: message"
            got = json.loads(next(lines)[len("data: ") :])
            assert got["id"] == 1 and got["result"]["content"][0]["text"] == "x"
        assert not wait_no_descendants(b.pid)  # the stream closed: the session and its child ended
        assert client.post(local, json=call(2, "echo", text="y")).status_code == 404


def test_messages_status_codes(bridge: BridgeFactory) -> None:
    with bridge("--max-body-size", "1000") as b, httpx.Client(timeout=20) as client:
        missing = client.post(b.url + "/messages", json=request(1, "ping"))
        assert missing.status_code == 400 and missing.json()["error"]["code"] == -32600
        unknown = client.post(b.url + "/messages?session_id=nope", json=request(1, "ping"))
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32600
        with client.stream("GET", b.url + "/sse") as stream:
            lines = stream.iter_lines()
            next(lines)
            url = b.url + next(lines)[len("data: ") :]
            bad_json = client.post(url, content=b"{nope", headers={"content-type": "application/json"})
            assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == -32700
            wrong_type = client.post(url, content=b"{}", headers={"content-type": "text/plain"})
            assert wrong_type.status_code == 415
            too_big = client.post(url, json=call(1, "echo", text="z" * 2000))
            assert too_big.status_code == 413 and too_big.json()["error"]["code"] == -32600
            assert client.get(url).status_code == 405


def test_sse_probe_is_answered_by_the_bridge(bridge: BridgeFactory) -> None:
    """A `server/discover` on the SSE transport gets -32601 from the bridge; the child never sees it."""
    with bridge() as b, httpx.Client(timeout=20) as client, client.stream("GET", b.url + "/sse") as stream:
        lines = stream.iter_lines()
        next(lines)
        url = b.url + next(lines)[len("data: ") :]
        assert client.post(url, json=request(9, "server/discover", {})).status_code == 202
        next(lines)
        assert next(lines) == "event: message"
        got = json.loads(next(lines)[len("data: ") :])
        assert got == {"jsonrpc": "2.0", "id": 9, "error": {"code": -32601, "message": "Method not found"}}
