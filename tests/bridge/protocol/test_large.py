"""Large messages cross whole: tool results and arguments far above asyncio's 64 KiB default line
limit, up to megabytes (bounded by what the target's SDK client accepts in one event)."""

from __future__ import annotations

import pytest

from tests.servers.peer import payload

from .clients import Target, connect

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

SIZES = [0, 1, 65_535, 65_537, 1_000_000, 3 * 1024 * 1024]
OVERHEAD = 4096
"""Room for the JSON-RPC envelope around a result."""


async def test_big_results_arrive_whole(target: Target) -> None:
    async with connect(target) as client:
        for size in [s for s in SIZES if s + OVERHEAD <= target.event_limit]:
            text = payload(await client.call_tool("big", {"n": size}))
            assert len(text) == size
            assert text == ("0123456789" * (size // 10 + 1))[:size]


async def test_big_arguments_arrive_whole(target: Target) -> None:
    # `echo` answers with the arguments twice (text and structured), the text with \u escapes.
    size = min(1024 * 1024, target.event_limit // 4)
    blob = "".join(chr(0x41 + i % 26) for i in range(size)) + "é€😀"
    async with connect(target) as client:
        assert payload(await client.call_tool("echo", {"blob": blob})) == {"blob": blob}
