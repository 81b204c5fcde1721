"""Sessions of the full-protocol server over direct stdio or through the bridge.

`Target` names how to reach a fresh session of `tests.servers.full_protocol`: "stdio" starts the
server directly (the reference), "sse" and "streamable" go through a running bridge. `connect`
opens an `mcp.Client` in the default connect mode (it probes `server/discover`, then falls back
to `initialize`) with every client-side callback wired to a `Peer`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.servers.peer import Peer, stdio_parameters

Transport = Literal["stdio", "sse", "streamable"]

SSE_EVENT_LIMIT = 1024 * 1024
"""The SDK's legacy SSE client refuses events above 1 MiB (not configurable there)."""
STREAMABLE_EVENT_LIMIT = 16 * 1024 * 1024
"""Raised from the SDK's 1 MiB default so multi-megabyte results can cross."""


@dataclass(frozen=True)
class Target:
    """Where a session of the full-protocol server is opened."""

    transport: Transport
    bridge_url: str | None = None

    def client_transport(self) -> Any:
        if self.transport == "stdio":
            return stdio_parameters()
        assert self.bridge_url is not None, "a bridge transport needs a running bridge"
        if self.transport == "sse":
            return sse_client(f"{self.bridge_url}/sse", sse_read_timeout=60.0)
        return streamable_http_client(f"{self.bridge_url}/mcp", max_sse_event_size=STREAMABLE_EVENT_LIMIT)

    @property
    def event_limit(self) -> int:
        """The largest message this target's SDK client accepts in one piece."""
        return SSE_EVENT_LIMIT if self.transport == "sse" else STREAMABLE_EVENT_LIMIT


@asynccontextmanager
async def connect(target: Target, peer: Peer | None = None) -> AsyncIterator[Client]:
    """An initialized `mcp.Client` for one new session, every callback going to `peer`."""
    # These suites are about sessions: the handshake era (2026-07-28 has tests/bridge/modern).
    async with (peer or Peer()).client(target.client_transport(), mode="legacy") as client:
        yield client
