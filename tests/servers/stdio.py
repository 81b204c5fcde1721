"""One session of a test server on stdin/stdout, until stdin closes: the loop every test server runs."""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.lowlevel.server import Server
from mcp.server.models import InitializationOptions
from mcp.server.runner import serve_dual_era_loop, serve_loop
from mcp.server.stdio import stdio_server


def run(server: Server[Any], options: InitializationOptions | None = None, dual_era: bool = False) -> None:
    """Serve `server` in the handshake era only, or, with `dual_era`, in the era of its first request
    (as the SDK's own `Server.run` does)."""

    async def serve() -> None:
        loop = serve_dual_era_loop if dual_era else serve_loop
        init = options or server.create_initialization_options()
        async with stdio_server() as (read_stream, write_stream), server.lifespan(server) as state:
            await loop(server, read_stream, write_stream, lifespan_state=state, init_options=init)

    anyio.run(serve)
