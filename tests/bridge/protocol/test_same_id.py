"""Two requests with the same id in flight at once in one Streamable HTTP session (some clients
send every request as `id: 1`): each gets its own answer, with the id it was sent with."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from tests.support.procs import Started, wait_no_descendants

from .raw import call, messages, raw_session

pytestmark = pytest.mark.anyio


def _result(message: dict[str, Any]) -> Any:
    """The JSON value a full-protocol tool answered with, from a raw response message."""
    return json.loads(message["result"]["content"][0]["text"])


async def test_same_id_twice_in_flight(protocol_bridge: Started) -> None:
    url = f"{protocol_bridge.url}/mcp"
    slow_answers: list[dict[str, Any]] = []
    waiting = anyio.Event()
    async with httpx.AsyncClient(timeout=30.0) as http, raw_session(http, url) as session:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:

                async def slow_call() -> None:
                    async with session.post(
                        call(1, "gate", {"name": "g"}, progress_token="slow")
                    ) as response:
                        assert response.status_code == 200
                        async for message in messages(response):
                            if message.get("method") == "notifications/progress":
                                assert message["params"]["progressToken"] == "slow"
                                waiting.set()
                            else:
                                slow_answers.append(message)

                tg.start_soon(slow_call)
                await waiting.wait()  # the child is running the first `id: 1`
                async with session.post(call(1, "open", {"name": "g"})) as response:
                    fast_answers = [m async for m in messages(response)]

    assert [m["id"] for m in fast_answers] == [1]
    assert _result(fast_answers[0]) == {"opened": "g"}
    assert [m["id"] for m in slow_answers] == [1]
    assert _result(slow_answers[0]) == {"gate": "g", "passed": True}
    left = wait_no_descendants(protocol_bridge.pid, timeout=15.0)
    assert not left, f"children of the bridge outlived their session: {[p.pid for p in left]}"
