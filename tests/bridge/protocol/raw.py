"""Raw Streamable HTTP exchanges with `httpx`, for what SDK clients never do on their own (such as
two in-flight requests with the same id in one session)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

PROTOCOL_VERSION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


async def messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON-RPC messages of one POST's answer: an SSE stream of `message` events, or one JSON body."""
    if response.headers.get("content-type", "").startswith("application/json"):
        yield json.loads(await response.aread())
        return
    event, data = "message", list[str]()
    async for line in response.aiter_lines():
        if line == "":
            if data and data != [""] and event == "message":  # no data: a priming event
                yield json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


class RawSession:
    """One initialized Streamable HTTP session, driven by hand."""

    def __init__(self, http: httpx.AsyncClient, url: str, session_id: str) -> None:
        self.http, self.url, self.session_id = http, url, session_id

    def headers(self) -> dict[str, str]:
        return {
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            "Mcp-Session-Id": self.session_id,
            "MCP-Protocol-Version": PROTOCOL_VERSION,
        }

    @asynccontextmanager
    async def post(self, message: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST one message; the response streams until the block ends."""
        async with self.http.stream("POST", self.url, json=message, headers=self.headers()) as response:
            yield response


def call(
    request_id: int | str, tool: str, arguments: dict[str, Any], progress_token: str | None = None
) -> dict[str, Any]:
    """A `tools/call` request message."""
    params: dict[str, Any] = {"name": tool, "arguments": arguments}
    if progress_token is not None:
        params["_meta"] = {"progressToken": progress_token}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


@asynccontextmanager
async def raw_session(http: httpx.AsyncClient, url: str) -> AsyncIterator[RawSession]:
    """`initialize` + `notifications/initialized` by hand; DELETE at the end."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "raw-httpx", "version": "1"},
        },
    }
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    async with http.stream("POST", url, json=init, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        session_id = response.headers["mcp-session-id"]
        answers = [m async for m in messages(response)]
    assert answers[-1]["id"] == 0 and answers[-1]["result"]["protocolVersion"] == PROTOCOL_VERSION, answers
    session = RawSession(http, url, session_id)
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    async with session.post(initialized) as response:
        assert response.status_code == 202
    try:
        yield session
    finally:
        await http.delete(url, headers=session.headers())
