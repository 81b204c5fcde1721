"""Notifications from the child reach the right place: progress to the caller's callback in
order, log lines to the logging callback at the level asked for, resource updates and list
changes to the message handler."""

from __future__ import annotations

import pytest
from mcp_types import ResourceUpdatedNotification, ToolListChangedNotification

from tests.servers.peer import Peer, payload

from .clients import Target, connect

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

STEPS = 20


async def test_progress_reaches_the_caller_in_order(target: Target) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(target) as client:
        result = await client.call_tool("progress", {"n": STEPS}, progress_callback=on_progress)
        assert payload(result) == {"done": STEPS}
        # A second call with its own callback: the first one hears nothing more.
        other: list[float] = []

        async def on_other(progress: float, total: float | None, message: str | None) -> None:
            other.append(progress)

        await client.call_tool("progress", {"n": 2}, progress_callback=on_other)
    assert seen == [(float(i), float(STEPS), f"step {i}") for i in range(1, STEPS + 1)]
    assert other == [1.0, 2.0]


async def test_log_lines_follow_the_level_set(target: Target) -> None:
    peer = Peer()
    async with connect(target, peer) as client:
        await client.set_logging_level("warning")
        result = await client.call_tool("log", {"levels": ["debug", "info", "warning", "error"]})
        assert payload(result) == {"sent": ["warning", "error"]}
        await peer.logs.wait_for(lambda logs: len(logs) >= 2)

        await client.set_logging_level("debug")
        assert payload(await client.call_tool("log", {"levels": ["debug", "notice"]})) == {
            "sent": ["debug", "notice"]
        }
        await peer.logs.wait_for(lambda logs: len(logs) >= 4)
        # A round trip after the last line: anything extra would have arrived by now.
        await client.send_ping()
    assert [(log.level, log.data, log.logger) for log in peer.logs.items] == [
        ("warning", "warning message", "full_protocol"),
        ("error", "error message", "full_protocol"),
        ("debug", "debug message", "full_protocol"),
        ("notice", "notice message", "full_protocol"),
    ]


def _updated(peer: Peer) -> list[str]:
    return [str(n.params.uri) for n in peer.notifications.items if isinstance(n, ResourceUpdatedNotification)]


async def test_resource_subscription_delivers_updates(target: Target) -> None:
    peer = Peer()
    async with connect(target, peer) as client:
        listed = await client.list_resources()
        assert [str(r.uri) for r in listed.resources] == ["test://full/a", "test://full/b"]
        read = await client.read_resource("test://full/a")
        assert read.contents[0].model_dump()["text"] == "contents of a"

        await client.subscribe_resource("test://full/a")
        assert payload(await client.call_tool("touch", {"uri": "test://full/b"})) == {"notified": False}
        assert payload(await client.call_tool("touch", {"uri": "test://full/a"})) == {"notified": True}
        await peer.notifications.wait_for(lambda items: len(_updated(peer)) >= 1)

        await client.unsubscribe_resource("test://full/a")
        assert payload(await client.call_tool("touch", {"uri": "test://full/a"})) == {"notified": False}
        await client.send_ping()
    assert _updated(peer) == ["test://full/a"]


async def test_list_changed_reaches_the_message_handler(target: Target) -> None:
    peer = Peer()
    async with connect(target, peer) as client:
        await client.call_tool("list_changed", {})
        await peer.notifications.wait_for(
            lambda items: any(isinstance(n, ToolListChangedNotification) for n in items)
        )
    assert not peer.errors.items
