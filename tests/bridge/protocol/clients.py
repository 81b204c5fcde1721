"""SDK clients for the full-protocol server, over direct stdio or through the bridge.

`Target` names how to reach a fresh session of `tests.servers.full_protocol`: "stdio" starts the
server directly (the reference), "sse" and "streamable" go through a running bridge. `connect`
opens an `mcp.Client` in the default connect mode (it probes `server/discover`, then falls back
to `initialize`) with every client-side callback wired to a `Peer` that records what arrived.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import FileUrl

REPO = Path(__file__).resolve().parents[3]
SERVER_ARGV = [sys.executable, "-m", "tests.servers.full_protocol"]
SERVER_ENV = {"PYTHONPATH": str(REPO), "FULL_PROTOCOL_TAG": "full-protocol-tag"}
READ_TIMEOUT = 20.0
WAIT_LIMIT = 15.0
"""Longest wait for something that should arrive; only ever reached when a test fails."""

Transport = Literal["stdio", "sse", "streamable"]
T = TypeVar("T")


class Inbox(Generic[T]):
    """Items in arrival order, and a way to wait (bounded by the caller's scope) for enough of them."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._changed = anyio.Event()

    def put(self, item: T) -> None:
        self.items.append(item)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, predicate: Callable[[list[T]], bool]) -> list[T]:
        with anyio.fail_after(WAIT_LIMIT):
            while not predicate(self.items):
                await self._changed.wait()
        return self.items


@dataclass
class Peer:
    """The client side of one session: what it answers to the server, and what it received.

    `name` makes the answers session-specific, so a misrouted server request shows.
    """

    name: str = "peer"
    sampled: Inbox[str] = field(default_factory=Inbox)
    logs: Inbox[types.LoggingMessageNotificationParams] = field(default_factory=Inbox)
    notifications: Inbox[types.ServerNotification] = field(default_factory=Inbox)
    errors: Inbox[Exception] = field(default_factory=Inbox)

    @property
    def roots(self) -> list[str]:
        return [f"file:///roots/{self.name}/one", f"file:///roots/{self.name}/two"]

    async def sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        prompt = content.text if isinstance(content, types.TextContent) else ""
        self.sampled.put(prompt)
        answer = types.TextContent(text=f"{self.name} answers {prompt}")
        return types.CreateMessageResult(role="assistant", content=answer, model=f"model-{self.name}")

    async def elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": self.name})

    async def list_roots(self, context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=FileUrl(uri)) for uri in self.roots])

    async def logging(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.put(params)

    async def message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            self.errors.put(message)
        else:
            self.notifications.put(message)


@dataclass(frozen=True)
class Target:
    """Where a session of the full-protocol server is opened."""

    transport: Transport
    bridge_url: str | None = None

    def client_transport(self) -> Any:
        if self.transport == "stdio":
            return StdioServerParameters(
                command=SERVER_ARGV[0], args=SERVER_ARGV[1:], cwd=REPO, env=SERVER_ENV
            )
        assert self.bridge_url is not None, "a bridge transport needs a running bridge"
        if self.transport == "sse":
            return sse_client(f"{self.bridge_url}/sse", sse_read_timeout=60.0)
        return streamable_http_client(f"{self.bridge_url}/mcp")


@asynccontextmanager
async def connect(target: Target, peer: Peer | None = None) -> AsyncIterator[Client]:
    """An initialized `mcp.Client` for one new session, every callback going to `peer`."""
    peer = peer or Peer()
    client = Client(
        target.client_transport(),
        read_timeout_seconds=READ_TIMEOUT,
        sampling_callback=peer.sampling,
        elicitation_callback=peer.elicitation,
        list_roots_callback=peer.list_roots,
        logging_callback=peer.logging,
        message_handler=peer.message,
        client_info=types.Implementation(name=f"protocol-tests-{peer.name}", version="1"),
    )
    async with client:
        yield client


def payload(result: types.CallToolResult) -> Any:
    """The JSON value a full-protocol tool returned (its one text block)."""
    assert not result.is_error, result
    block = result.content[0]
    assert isinstance(block, types.TextContent), block
    return json.loads(block.text)
