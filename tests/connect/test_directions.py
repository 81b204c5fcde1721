"""(2) Both directions through `bridge connect`: the server's requests (sampling, elicitation,
roots, ping) answered by the local client, progress and log notifications, resource updates, and
the client's cancellation reaching the server with the id it gave."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ResourceUpdatedNotification, ToolListChangedNotification

from tests.servers.peer import Peer, payload

from .support import Log, session

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]


async def test_the_servers_requests_are_answered_by_the_client(remote_url: str, log: Log) -> None:
    peer = Peer("ada")
    async with session(remote_url, log=log, peer=peer) as client:
        for i in range(3):  # several in a row, interleaved with ordinary calls
            answer = payload(await client.call_tool("sample", {"prompt": f"p{i}"}))
            assert answer == {"model": "model-ada", "text": f"ada answers p{i}"}
            assert payload(await client.call_tool("echo", {"i": i})) == {"i": i}
        assert payload(await client.call_tool("elicit", {"message": "your name?"})) == {
            "action": "accept", "content": {"name": "ada"}}
        assert payload(await client.call_tool("roots", {})) == {"roots": peer.roots}
        await client.send_ping()
        assert payload(await client.call_tool("ping_client", {})) == {"pong": True}
    assert peer.sampled.items == ["p0", "p1", "p2"]


async def test_notifications_reach_the_client(remote_url: str, log: Log) -> None:
    peer = Peer()
    steps: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append((progress, total, message))

    async with session(remote_url, log=log, peer=peer) as client:
        assert payload(await client.call_tool("progress", {"n": 10}, progress_callback=on_progress)) == {"done": 10}

        await client.set_logging_level("warning")
        assert payload(await client.call_tool("log", {"levels": ["info", "warning", "error"]})) == {
            "sent": ["warning", "error"]}
        await peer.logs.wait_for(lambda logs: len(logs) >= 2)

        await client.subscribe_resource("test://full/a")
        assert payload(await client.call_tool("touch", {"uri": "test://full/a"})) == {"notified": True}
        await peer.notifications.wait_for(
            lambda items: any(isinstance(n, ResourceUpdatedNotification) for n in items))
        await client.call_tool("list_changed", {})
        await peer.notifications.wait_for(
            lambda items: any(isinstance(n, ToolListChangedNotification) for n in items))
        await client.send_ping()
    assert steps == [(float(i), 10.0, f"step {i}") for i in range(1, 11)]
    assert [(entry.level, entry.data) for entry in peer.logs.items] == [
        ("warning", "warning message"), ("error", "error message")]
    assert not peer.errors.items


async def _start_and_cancel_slow(client: Client, tag: str) -> None:
    """Call `slow`, wait until the server runs it, then cancel the calling scope."""
    started = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async with anyio.create_task_group() as tg:

        async def call() -> None:
            await client.call_tool("slow", {"tag": tag}, progress_callback=on_progress)
            raise AssertionError("slow returned although it was cancelled")

        tg.start_soon(call)
        with anyio.fail_after(15):
            await started.wait()
        tg.cancel_scope.cancel()


async def _report(client: Client, tag: str) -> dict[str, Any]:
    with anyio.fail_after(15):
        while True:
            report: dict[str, Any] = payload(await client.call_tool("was_cancelled", {"tag": tag}))
            if report["interrupted"] and report["matched"]:
                return report
            await anyio.sleep(0.05)


async def test_cancellation_reaches_the_server(remote_url: str, log: Log) -> None:
    async with session(remote_url, log=log) as client:
        await _start_and_cancel_slow(client, "first")
        first = await _report(client, "first")
        assert payload(await client.call_tool("echo", {"after": "cancel"})) == {"after": "cancel"}
        await _start_and_cancel_slow(client, "second")
        second = await _report(client, "second")
    assert second["cancelled_ids"] == [first["request_id"], second["request_id"]]
