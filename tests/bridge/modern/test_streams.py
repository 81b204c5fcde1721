"""The SSE stream of a 2026-07-28 request: only its own notifications, and closing it cancels the
request in the child (raw httpx, against the shared full-protocol bridge)."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx
import pytest

from tests.support.procs import Started

from .wire import WAIT, aiter_messages, answer, call, headers, hold, messages_of, stream, text_json

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

CLOSED = "client closed a 2026-07-28 request's stream"


def progress_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["params"] for m in messages if m.get("method") == "notifications/progress"]


async def test_progress_reaches_only_its_own_request(full: Started) -> None:
    """Two requests of one principal in flight at once, with the same id and the same progress token."""
    url = full.url + "/mcp"
    async with httpx.AsyncClient(timeout=20) as client:
        waiting = call(1, "gate", {"name": "g5"}, progressToken=1)
        async with stream(client, url, waiting) as held:
            events = aiter_messages(held)
            first = await anext(events)  # the gate is waiting in the child: both are in flight from here
            body = call(1, "progress", {"n": 3}, progressToken=1)
            progressed = messages_of(await client.post(url, json=body, headers=headers(body)))
            got = await client.post(url, json=(body := call(2, "open", {"name": "g5"})), headers=headers(body))
            assert text_json(answer(got)["result"]) == {"opened": "g5"}
            rest = [m async for m in events]
    held_messages = [first, *rest]
    assert progress_of(held_messages) == [{"progressToken": 1, "progress": 0, "message": "waiting"}], held_messages
    assert held_messages[-1]["id"] == 1 and text_json(held_messages[-1]["result"]) == {"gate": "g5", "passed": True}
    assert progressed[-1]["id"] == 1 and text_json(progressed[-1]["result"]) == {"done": 3}
    assert progress_of(progressed) == [{"progressToken": 1, "progress": i, "total": 3, "message": f"step {i}"}
                                       for i in (1, 2, 3)], progressed


async def _messages(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    async with stream(client, url, body) as response:
        async for item in aiter_messages(response):
            yield item


async def test_concurrent_progress_streams_with_the_same_token(full: Started) -> None:
    """Two `progress` calls at once, same id and token, different `n`: each stream gets its own steps."""
    url = full.url + "/mcp"
    got: dict[int, list[dict[str, Any]]] = {}

    async def run(client: httpx.AsyncClient, n: int) -> None:
        got[n] = [m async for m in _messages(client, url, call(1, "progress", {"n": n}, progressToken=1))]

    async with httpx.AsyncClient(timeout=20) as client, anyio.create_task_group() as tg:
        for n in (3, 5):
            tg.start_soon(run, client, n)
    for n, messages in got.items():
        assert progress_of(messages) == [{"progressToken": 1, "progress": i, "total": n, "message": f"step {i}"}
                                         for i in range(1, n + 1)], (n, messages)
        assert messages[-1]["id"] == 1 and text_json(messages[-1]["result"]) == {"done": n}


async def logged_since(full: Started, start: int, text: str) -> None:
    deadline = time.monotonic() + WAIT
    while text not in full.log()[start:]:
        assert time.monotonic() < deadline, f"the bridge never logged {text!r}"
        await anyio.sleep(0.05)


async def test_closing_the_stream_cancels_the_request_in_the_child(full: Started) -> None:
    url = full.url + "/mcp"
    async with httpx.AsyncClient(timeout=20) as client, hold(client, url, "g6"):  # the same child throughout
        start = len(full.log())
        async with stream(client, url, call("slow-6", "slow", {"tag": "t6"}, progressToken="s6")) as response:
            first = await anext(aiter_messages(response))
            assert first["method"] == "notifications/progress" and first["params"]["progressToken"] == "s6", first
        # the block closed the stream while the child was still sleeping
        await logged_since(full, start, CLOSED)
        deadline = time.monotonic() + WAIT
        while True:
            body = call("check-6", "was_cancelled", {"tag": "t6"})
            record = text_json(answer(await client.post(url, json=body, headers=headers(body)))["result"])
            if (record["interrupted"] and record["matched"]) or time.monotonic() > deadline:
                break
            await anyio.sleep(0.05)
    assert record["interrupted"] and record["matched"], record  # the child's own record of the cancel
    assert record["request_id"] != "slow-6"  # the child saw the bridge's id for it, and was told that one
    assert record["request_id"] in record["cancelled_ids"]


async def test_no_log_messages_without_the_log_level_opt_in(full: Started) -> None:
    """modern.md: without `io.modelcontextprotocol/logLevel`, no `notifications/message` for that request."""
    url = full.url + "/mcp"
    async with httpx.AsyncClient(timeout=20) as client:
        messages = [m async for m in _messages(client, url, call("log-1", "log", {"levels": ["info", "error"]}))]
    assert messages[-1]["id"] == "log-1", messages
    assert not [m for m in messages if m.get("method") == "notifications/message"], json.dumps(messages)


async def test_log_messages_at_or_above_the_requested_level(full: Started) -> None:
    url = full.url + "/mcp"
    body = call("log-2", "log", {"levels": ["debug", "info", "error", "critical"]},
                **{"io.modelcontextprotocol/logLevel": "error"})
    async with httpx.AsyncClient(timeout=20) as client:
        messages = [m async for m in _messages(client, url, body)]
    levels = [m["params"]["level"] for m in messages if m.get("method") == "notifications/message"]
    assert levels == ["error", "critical"], json.dumps(messages)
