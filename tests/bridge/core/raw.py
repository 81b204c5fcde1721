"""Raw HTTP helpers for status-code and id tests: Streamable HTTP without an SDK client in between."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx

ACCEPT = "application/json, text/event-stream"
HEADERS = {"accept": ACCEPT, "content-type": "application/json"}
INIT_PARAMS = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "raw-test", "version": "0"},
}


def request(id_: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def call(id_: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    return request(id_, "tools/call", {"name": tool, "arguments": arguments})


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON messages of an SSE body, in order (every event must be `event: message`)."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        assert lines[0] == "event: message", block[:200]
        data = "\n".join(line[len("data: "):] for line in lines if line.startswith("data: "))
        if data:  # an event without data primes a resumable stream (an id to resume from)
            found.append(json.loads(data))
    return found


def next_event(lines: Iterator[str]) -> tuple[str | None, dict[str, Any]]:
    """(event id, message) of the next `message` event with data on a stream of SSE lines
    (keep-alive comments and priming events skipped)."""
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data and data != [""]:
                return event_id, json.loads("\n".join(data))
            event_id, data = None, []
        elif line.startswith("id: "):
            event_id = line[len("id: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
        elif line.startswith("event: "):
            assert line == "event: message", line
    raise AssertionError("the stream ended before a message")


def initialize(client: httpx.Client, url: str, version: str = "2025-11-25") -> str:
    """Initialize a Streamable HTTP session; returns its id (after `notifications/initialized`)."""
    response = client.post(
        url, json=request(0, "initialize", {**INIT_PARAMS, "protocolVersion": version}), headers=HEADERS
    )
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    assert sse_messages(response.text)[-1]["result"]["protocolVersion"] == version
    note = client.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={**HEADERS, "mcp-session-id": session_id},
    )
    assert note.status_code == 202 and note.content == b""
    return session_id


def post(client: httpx.Client, url: str, session_id: str, body: Any) -> httpx.Response:
    return client.post(url, json=body, headers={**HEADERS, "mcp-session-id": session_id})


def answer(response: httpx.Response) -> dict[str, Any]:
    """The last message of a request POST's SSE stream (its answer)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_messages(response.text)[-1]


def text_of(message: dict[str, Any]) -> str:
    return str(message["result"]["content"][0]["text"])


@contextlib.contextmanager
def session(client: httpx.Client, url: str, version: str = "2025-11-25") -> Iterator[str]:
    """An initialized session, ended with DELETE afterwards (the bridge then ends its child)."""
    session_id = initialize(client, url, version)
    try:
        yield session_id
    finally:
        client.delete(url, headers={"mcp-session-id": session_id})


def wait_until_child_saw(client: httpx.Client, url: str, session_id: str, method: str, count: int) -> None:
    """Poll the echo child's `methods` tool until it has received `count` `method` messages
    (besides the polling calls themselves), so a test knows a request reached the child."""
    for attempt in range(200):
        got = answer(post(client, url, session_id, call(f"poll-{attempt}", "methods")))
        seen = json.loads(text_of(got))
        polls = attempt + 1 if method == "tools/call" else 0
        if seen.count(method) - polls >= count:
            return
    raise AssertionError(f"the child never received {count} {method}")
