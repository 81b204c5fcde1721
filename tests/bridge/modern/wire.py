"""MCP 2026-07-28 on the wire, by hand: envelopes, routing headers, and the answers of raw POSTs.

A modern request is one POST without `Mcp-Session-Id`; its `params._meta` carries the protocol
version and the client capabilities, and the headers repeat the version, the method and (on
`tools/call`, `prompts/get`, `resources/read`) the name. These helpers build exactly that, so a
test changes only the one thing it is about.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

VERSION = "2026-07-28"
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
SUPPORTED = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
"""`data.supported` of the bridge's -32022: what it serves, newest first."""
HANDSHAKE = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}
ERA_ONLY = ("_meta", "resultType", "ttlMs", "cacheScope")
"""Result fields a 2026-07-28 answer has and a handshake-era one need not."""
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
WAIT = 15.0
"""Longest wait for something that should happen; only ever reached when a test fails."""


def meta(version: str = VERSION, **extra: Any) -> dict[str, Any]:
    """The per-request envelope of `_meta`."""
    return {VERSION_KEY: version, CAPABILITIES_KEY: {}, CLIENT_INFO_KEY: {"name": "raw-modern", "version": "0"},
            **extra}


def message(id_: Any, method: str, params: dict[str, Any] | None = None, *, version: str = VERSION,
            **extra_meta: Any) -> dict[str, Any]:
    """A 2026-07-28 request (`id_` None: a notification) with the envelope in `params._meta`."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method,
                            "params": {**(params or {}), "_meta": meta(version, **extra_meta)}}
    if id_ is not None:
        body["id"] = id_
    return body


def headers(body: dict[str, Any], **override: str | None) -> dict[str, str]:
    """The headers a conforming client sends for `body`; `override` replaces (None: drops) one,
    named with `_` for `-` (e.g. `mcp_method="x"`)."""
    params = body.get("params") or {}
    found: dict[str, str] = {"accept": "application/json, text/event-stream", "content-type": "application/json",
                             "mcp-protocol-version": str(params.get("_meta", {}).get(VERSION_KEY, VERSION)),
                             "mcp-method": str(body.get("method"))}
    name_key = NAMED.get(str(body.get("method")))
    if name_key is not None and isinstance(params.get(name_key), str):
        found["mcp-name"] = params[name_key]
    for name, value in override.items():
        key = name.replace("_", "-")
        if value is None:
            found.pop(key, None)
        else:
            found[key] = value
    return found


def call(id_: Any, tool: str, arguments: dict[str, Any] | None = None, **extra_meta: Any) -> dict[str, Any]:
    return message(id_, "tools/call", {"name": tool, "arguments": arguments or {}}, **extra_meta)


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON messages of an SSE body, in order."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[len("data:"):].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if data and data != [""]:
            found.append(json.loads("\n".join(data)))
    return found


def messages_of(response: httpx.Response) -> list[dict[str, Any]]:
    """Every JSON-RPC message of a POST's answer: an SSE stream, or one JSON object."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return [response.json()]
    assert kind.startswith("text/event-stream"), (response.status_code, kind, response.text[:300])
    return sse_messages(response.text)


def answer(response: httpx.Response) -> dict[str, Any]:
    """The final message (the answer) of a 200 POST."""
    assert response.status_code == 200, (response.status_code, response.text)
    return messages_of(response)[-1]


def post(client: httpx.Client, url: str, body: dict[str, Any], **override: str | None) -> httpx.Response:
    return client.post(url, json=body, headers=headers(body, **override))


class EventData:
    """SSE lines in, the JSON of each event's data out (events without data, like primes, skipped)."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> dict[str, Any] | None:
        if line == "":
            data, self._data = self._data, []
            return json.loads("\n".join(data)) if data and data != [""] else None
        if line.startswith("data:"):
            self._data.append(line[len("data:"):].removeprefix(" "))
        return None


def lines_to_messages(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    events = EventData()
    for line in lines:
        if (message := events.feed(line)) is not None:
            yield message


async def aiter_messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON-RPC messages of a streaming POST's answer, as they come."""
    if response.headers.get("content-type", "").startswith("application/json"):
        yield json.loads(await response.aread())
        return
    events = EventData()
    async for line in response.aiter_lines():
        if (message := events.feed(line)) is not None:
            yield message


@asynccontextmanager
async def stream(client: httpx.AsyncClient, url: str, body: dict[str, Any],
                 **extra_headers: str) -> AsyncIterator[httpx.Response]:
    """POST `body` and keep its answer's stream open for the block; leaving the block closes it."""
    sent = {**headers(body), **extra_headers}
    async with client.stream("POST", url, json=body, headers=sent) as response:
        assert response.status_code == 200, (response.status_code, await response.aread())
        yield response


def text_json(result: dict[str, Any]) -> Any:
    """The JSON a full-protocol tool answered (its one text block)."""
    assert not result.get("isError"), result
    return json.loads(result["content"][0]["text"])


def strip_era(value: Any) -> Any:
    """A result's payload without what only one era carries (recursively for `_meta`)."""
    if isinstance(value, dict):
        return {k: strip_era(v) for k, v in value.items() if k not in ERA_ONLY}
    if isinstance(value, list):
        return [strip_era(v) for v in value]
    return value


@asynccontextmanager
async def hold(client: httpx.AsyncClient, url: str, gate: str, **extra_headers: str) -> AsyncIterator[None]:
    """Keep a request of this principal in flight for the block (the full-protocol `gate` tool),
    so its pooled child cannot end as idle meanwhile, however slow the test runs."""
    body = call(f"hold-{gate}", "gate", {"name": gate}, progressToken=f"hold-{gate}")
    async with stream(client, url, body, **extra_headers) as response:
        events = aiter_messages(response)
        first = await anext(events)
        assert first.get("method") == "notifications/progress", first  # the gate is waiting in the child
        yield
        opened = call(f"open-{gate}", "open", {"name": gate})
        got = await client.post(url, json=opened, headers={**headers(opened), **extra_headers})
        assert answer(got)["result"]["structuredContent"] == {"opened": gate}
        async for last in events:
            if "id" in last:
                assert last["id"] == f"hold-{gate}" and last["result"]["structuredContent"]["passed"], last
                break
