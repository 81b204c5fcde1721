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
        return streamable_http_client(f"{self.bridge_url}/mcp")


@asynccontextmanager
async def connect(target: Target, peer: Peer | None = None) -> AsyncIterator[Client]:
    """An initialized `mcp.Client` for one new session, every callback going to `peer`."""
    async with (peer or Peer()).client(target.client_transport()) as client:
        yield client
