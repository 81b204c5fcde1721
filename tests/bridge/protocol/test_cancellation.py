"""A client's cancellation reaches the child as `notifications/cancelled` naming the id the child
saw (after any id remapping), the child's handler is interrupted, and the session stays usable."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from tests.servers.peer import payload

from .clients import Target, connect

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]


async def _start_and_cancel_slow(client: Client, tag: str) -> None:
    """Call `slow`, wait until the child is running it, then cancel the calling scope."""
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
    """What the child recorded for `tag`, once it has seen the cancellation."""
    with anyio.fail_after(15):
        while True:
            report: dict[str, Any] = payload(await client.call_tool("was_cancelled", {"tag": tag}))
            if report["interrupted"] and report["matched"]:
                return report
            await anyio.sleep(0.05)


async def test_cancel_reaches_the_child_with_its_own_id(target: Target) -> None:
    async with connect(target) as client:
        await _start_and_cancel_slow(client, "first")
        report = await _report(client, "first")
        assert report["request_id"] is not None
        assert report["cancelled_ids"].count(report["request_id"]) == 1

        # The session is still usable, and a second cancellation names the second call.
        assert payload(await client.call_tool("echo", {"after": "cancel"})) == {"after": "cancel"}
        await _start_and_cancel_slow(client, "second")
        second = await _report(client, "second")
        assert second["request_id"] != report["request_id"]
        assert second["cancelled_ids"] == [report["request_id"], second["request_id"]]


async def test_uncancelled_slow_call_finishes(target: Target) -> None:
    """The control: without a cancel, `slow` runs to its end and nothing is recorded."""
    async with connect(target) as client:
        result = payload(await client.call_tool("slow", {"tag": "calm", "seconds": 0.2}))
        assert result == {"tag": "calm", "finished": True}
        report = payload(await client.call_tool("was_cancelled", {"tag": "calm"}))
        assert report["interrupted"] is False and report["matched"] is False and report["cancelled_ids"] == []
