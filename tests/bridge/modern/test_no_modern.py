"""`--no-modern`: a 2026-07-28 request is refused with -32022 naming only handshake versions, so the
SDK's auto client falls back to `initialize` and works."""

from __future__ import annotations

import httpx
import mcp_types as types
import pytest
from mcp import Client

from tests.bridge.conftest import BridgeFactory
from tests.support.procs import descendants

from .conftest import ENV, FULL
from .wire import HANDSHAKE, VERSION, message, post

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_no_modern_refuses_2026_and_the_sdk_falls_back(bridge: BridgeFactory) -> None:
    with bridge("--no-modern", child=FULL, env=ENV) as b:
        url = b.url + "/mcp"
        with httpx.Client(timeout=20) as raw:
            for id_, method in ((1, "server/discover"), ("t", "tools/list")):
                got = post(raw, url, message(id_, method))
                assert got.status_code == 400, got.text
                body = got.json()
                assert body["id"] == id_ and body["error"]["code"] == -32022, body
                assert set(body["error"]["data"]["supported"]) == HANDSHAKE, body
                assert VERSION not in body["error"]["data"]["supported"]
                assert body["error"]["data"]["requested"] == VERSION
            assert not descendants(b.pid)  # refused before any child
        async with Client(url, read_timeout_seconds=20) as client:
            assert client.protocol_version == "2025-11-25"
            result = await client.call_tool("echo", {"fell": "back"})
            assert not result.is_error and result.structured_content == {"fell": "back"}
            assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
            block = result.content[0]
            assert isinstance(block, types.TextContent)
        assert "child for a 2026-07-28 principal" not in b.log()
