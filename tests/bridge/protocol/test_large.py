"""Large messages cross whole: a multi-megabyte tool result and a large argument, far above
asyncio's 64 KiB default line limit."""

from __future__ import annotations

import pytest
from tests.servers.peer import payload

from .clients import Target, connect

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

SIZES = [0, 1, 65_535, 65_537, 3 * 1024 * 1024]


async def test_big_results_arrive_whole(target: Target) -> None:
    async with connect(target) as client:
        for size in SIZES:
            text = payload(await client.call_tool("big", {"n": size}))["text"]
            assert len(text) == size
            assert text == ("0123456789" * (size // 10 + 1))[:size]


async def test_big_arguments_arrive_whole(target: Target) -> None:
    blob = "".join(chr(0x41 + i % 26) for i in range(1024 * 1024)) + "é€😀"
    async with connect(target) as client:
        assert payload(await client.call_tool("echo", {"blob": blob})) == {"blob": blob}
