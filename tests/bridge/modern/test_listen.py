"""`subscriptions/listen` in front of a handshake-era child: the acknowledgement names what is
honoured, the child's resource updates and list changes arrive tagged with the listen's id, an open
listen keeps its child from idling out, and the stream completes when the child's session ends."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client

from tests.support.bridge import run_bridge

from .conftest import ENV
from .wire import aiter_messages, headers, message

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

FULL = [sys.executable, "-m", "tests.servers.full_protocol"]
SUBSCRIPTION_KEY = "io.modelcontextprotocol/subscriptionId"


async def test_the_sdk_client_listens_and_gets_an_update_and_a_list_change(tmp_path: Path) -> None:
    with run_bridge(FULL, tmp_path / "bridge.log", ("--idle-timeout", "1"), env=ENV) as b:
        async with Client(b.url + "/mcp") as client:
            assert client.protocol_version == "2026-07-28"
            async with client.listen(tools_list_changed=True, resource_subscriptions=["test://full/a"]) as sub:
                assert sub.honored.tools_list_changed is True
                assert sub.honored.resource_subscriptions == ["test://full/a"]
                await anyio.sleep(1.5)  # past the idle timeout: the listen holds its child
                assert (await client.call_tool("touch", {"uri": "test://full/a"})).structured_content == \
                    {"notified": True}
                await client.call_tool("list_changed", {})
                seen: list[str] = []
                with anyio.fail_after(10):
                    async for event in sub:
                        seen.append(type(event).__name__)
                        if len(seen) == 2:
                            break
        assert seen == ["ResourceUpdated", "ToolsListChanged"]
        log = b.log_path.read_text()
    assert "Traceback" not in log


async def test_the_listen_stream_is_tagged_and_completes_when_the_child_ends(tmp_path: Path) -> None:
    listen = message("L1", "subscriptions/listen", {"notifications": {"promptsListChanged": True,
                                                                      "resourceSubscriptions": ["test://full/b"]}})
    with run_bridge(FULL, tmp_path / "bridge.log", ("--idle-timeout", "1", "--drain-timeout", "5"), env=ENV) as b:
        async with httpx.AsyncClient(timeout=30) as client:
            got = []
            async with client.stream("POST", b.url + "/mcp", json=listen, headers=headers(listen)) as response:
                assert response.status_code == 200
                async for item in aiter_messages(response):
                    got.append(item)
                    if len(got) == 1:
                        ack = item
                        assert ack["method"] == "notifications/subscriptions/acknowledged"
                        assert ack["params"]["_meta"][SUBSCRIPTION_KEY] == "L1"
                        # full-protocol offers no prompt list changes: not honoured; its subscribe is
                        assert ack["params"]["notifications"] == {"resourceSubscriptions": ["test://full/b"]}
                        touch = message("t", "tools/call", {"name": "touch", "arguments": {"uri": "test://full/b"}})
                        await client.post(b.url + "/mcp", json=touch, headers=headers(touch))
                    elif len(got) == 2:
                        assert item["method"] == "notifications/resources/updated"
                        assert item["params"]["uri"] == "test://full/b"
                        assert item["params"]["_meta"][SUBSCRIPTION_KEY] == "L1"
                        b.proc.send_signal(15)  # the drain ends the child's session: the listen completes
                    else:
                        break
    assert got[-1] == {"jsonrpc": "2.0", "id": "L1", "result": {"resultType": "complete",
                                                                "_meta": {SUBSCRIPTION_KEY: "L1"}}}
