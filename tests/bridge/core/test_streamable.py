"""Streamable HTTP through the bridge: the SDK client, routing, id remapping, batches."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from mcp import Client

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import (
    HEADERS,
    answer,
    call,
    next_event,
    post,
    request,
    session,
    sse_messages,
    text_of,
    wait_until_child_saw,
)

pytestmark = pytest.mark.timeout(60)


@pytest.mark.anyio
async def test_sdk_client_default_mode_falls_back_to_initialize(bridge: BridgeFactory) -> None:
    with bridge() as b:
        async with Client(b.url + "/mcp", mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            result = await client.call_tool("echo", {"text": "hello"})
            assert result.content[0].text == "hello"  # type: ignore[union-attr]
            seen = json.loads((await client.call_tool("methods", {})).content[0].text)  # type: ignore[union-attr]
    assert "initialize" in seen
    assert "server/discover" not in seen
    assert b.log().count("child started") == 1  # the probe spawned nothing


def test_session_id_on_initialize_response_only_after_answer(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            assert session_id.isascii() and session_id.isprintable() and len(session_id) >= 32
            assert text_of(answer(post(client, url, session_id, call(1, "echo", text="x")))) == "x"


def test_duplicate_client_ids_in_flight_both_answered(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            slow: dict[str, Any] = {}

            def run_slow() -> None:
                slow["answer"] = answer(post(client, url, session_id, call(1, "slow", seconds=1.5)))

            thread = threading.Thread(target=run_slow)
            thread.start()
            wait_until_child_saw(client, url, session_id, "tools/call", 1)
            fast = answer(post(client, url, session_id, call(1, "echo", text="fast")))
            thread.join(timeout=20)
            assert fast["id"] == 1 and text_of(fast) == "fast"
            assert slow["answer"]["id"] == 1 and text_of(slow["answer"]) == "slept 1.5"


def test_ids_restored_type_exact(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            for id_ in (1, "1", "abc", 0, -5, 2**40):
                got = answer(post(client, url, session_id, request(id_, "ping")))
                assert type(got["id"]) is type(id_) and got["id"] == id_
                assert got["result"] == {}


def test_progress_and_request_notes_go_on_the_request_stream(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            body = request(7, "tools/call", {"name": "progress", "arguments": {"count": 3}, "_meta": {"progressToken": "t"}})
            messages = sse_messages(post(client, url, session_id, body).text)
            assert [m["params"]["progress"] for m in messages[:-1]] == [1, 2, 3]
            assert all(m["params"]["progressToken"] == "t" for m in messages[:-1])
            assert text_of(messages[-1]) == "progress done" and messages[-1]["id"] == 7
            notes = sse_messages(post(client, url, session_id, call(8, "notify")).text)
            assert notes[0]["method"] == "notifications/message" and text_of(notes[1]) == "notified"


def test_unclaimed_messages_held_for_the_get_stream(bridge: BridgeFactory) -> None:
    """With two requests in flight a log note belongs to neither: it waits for the GET stream."""
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            slow: dict[str, Any] = {}
            thread = threading.Thread(
                target=lambda: slow.update(r=post(client, url, session_id, call(1, "slow", seconds=3)))
            )
            thread.start()
            wait_until_child_saw(client, url, session_id, "tools/call", 1)
            notes = sse_messages(post(client, url, session_id, call(2, "notify")).text)
            assert [m.get("id") for m in notes] == [2]  # only the answer came on this POST
            thread.join(timeout=20)
            assert [m.get("id") for m in sse_messages(slow["r"].text)] == [1]
            with client.stream("GET", url, headers={**HEADERS, "mcp-session-id": session_id}) as stream:
                assert stream.status_code == 200
                assert stream.headers["cache-control"] == "no-cache, no-transform"
                assert stream.headers["x-accel-buffering"] == "no"
                _, held = next_event(stream.iter_lines())
            assert held["method"] == "notifications/message" and held["params"]["data"] == "note"


def test_second_get_stream_is_409_and_harmless(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            headers = {**HEADERS, "mcp-session-id": session_id}
            with client.stream("GET", url, headers=headers) as first:
                assert first.status_code == 200
                second = client.get(url, headers=headers)
                assert second.status_code == 409
                assert second.json()["error"]["code"] == -32600
                assert text_of(answer(post(client, url, session_id, call(1, "echo", text="still")))) == "still"


def test_delete_ends_the_session(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            pid = json.loads(text_of(answer(post(client, url, session_id, call(1, "pid")))))["pid"]
            deleted = client.delete(url, headers={"mcp-session-id": session_id})
            assert deleted.status_code == 204
            gone = post(client, url, session_id, call(2, "echo", text="x"))
            assert gone.status_code == 404 and gone.json()["error"]["code"] == -32600
            assert client.delete(url, headers={"mcp-session-id": session_id}).status_code == 404
            from tests.support.procs import wait_no_descendants

            assert not [p for p in wait_no_descendants(b.pid) if p.pid == pid]


@pytest.mark.parametrize("version", ["2025-03-26", "2024-11-05"])
def test_batch_split_for_old_children(bridge: BridgeFactory, version: str) -> None:
    with bridge(env={"ECHO_PROTOCOL": version}) as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url, version) as session_id:
            batch = [call(1, "echo", text="a"), {"jsonrpc": "2.0", "method": "notifications/x"}, call(2, "echo", text="b")]
            messages = sse_messages(post(client, url, session_id, batch).text)
            assert sorted((m["id"], text_of(m)) for m in messages) == [(1, "a"), (2, "b")]
            only_notes = post(client, url, session_id, [{"jsonrpc": "2.0", "method": "notifications/x"}])
            assert only_notes.status_code == 202


def test_batch_rejected_for_current_children(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            rejected = post(client, url, session_id, [call(1, "echo", text="a")])
            assert rejected.status_code == 400 and rejected.json()["error"]["code"] == -32600
            seen = json.loads(text_of(answer(post(client, url, session_id, call(2, "methods")))))
            assert seen.count("tools/call") == 1  # only this call: nothing of the batch reached the child


def test_json_response_mode(bridge: BridgeFactory) -> None:
    with bridge("--json-response") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        init = client.post(url, json=request(0, "initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}),
            headers=HEADERS)
        assert init.status_code == 200 and init.headers["content-type"] == "application/json"
        session_id = init.headers["mcp-session-id"]
        assert init.json()["result"]["protocolVersion"] == "2025-06-18"
        got = post(client, url, session_id, call("j", "echo", text="json"))
        assert got.headers["content-type"] == "application/json"
        assert got.json()["id"] == "j" and text_of(got.json()) == "json"
        assert client.delete(url, headers={"mcp-session-id": session_id}).status_code == 204


@pytest.mark.anyio
async def test_sdk_client_in_json_response_mode(bridge: BridgeFactory) -> None:
    with bridge("--json-response") as b:
        async with Client(b.url + "/mcp", mode="legacy") as client:
            assert (await client.call_tool("echo", {"text": "j"})).content[0].text == "j"  # type: ignore[union-attr]
