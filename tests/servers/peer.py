"""The client side of a full-protocol session: how to start the server, and a `Peer` that answers
the server's requests and records what it was sent. Reused by every suite that drives the
full-protocol server, directly over stdio or through the bridge."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext, IncomingMessage
from pydantic import FileUrl

REPO = Path(__file__).resolve().parents[2]
SERVER_ARGV = [sys.executable, "-m", "tests.servers.full_protocol"]
"""The full-protocol server as argv; it needs `SERVER_ENV` (or the repository root as cwd)."""
SERVER_ENV = {"PYTHONPATH": str(REPO), "FULL_PROTOCOL_TAG": "full-protocol-tag"}
READ_TIMEOUT = 20.0
WAIT_LIMIT = 15.0
"""Longest wait for something that should arrive; only ever reached when a test fails."""

T = TypeVar("T")


def stdio_parameters() -> StdioServerParameters:
    """Start the full-protocol server directly, as `mcp.Client`'s stdio transport does."""
    return StdioServerParameters(command=SERVER_ARGV[0], args=SERVER_ARGV[1:], cwd=REPO, env=SERVER_ENV)


class Inbox(Generic[T]):
    """Items in arrival order, and a bounded wait for enough of them."""

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

    `name` makes the answers session-specific, so a server request routed to the wrong
    session shows.
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

    def client(self, transport: Any, mode: str = "auto") -> Client:
        """An `mcp.Client` on `transport` (in the SDK's default connect mode unless `mode` says
        otherwise), every callback wired here."""
        return Client(
            transport,
            mode=mode,
            read_timeout_seconds=READ_TIMEOUT,
            sampling_callback=self.sampling,
            elicitation_callback=self.elicitation,
            list_roots_callback=self.list_roots,
            logging_callback=self.logging,
            message_handler=self.message,
            client_info=types.Implementation(name=f"protocol-tests-{self.name}", version="1"),
        )


def payload(result: types.CallToolResult) -> Any:
    """The JSON value a full-protocol tool returned (its one text block)."""
    assert not result.is_error, result
    block = result.content[0]
    assert isinstance(block, types.TextContent), block
    return json.loads(block.text)
