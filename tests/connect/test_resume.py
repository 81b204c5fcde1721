"""A request's answer stream that breaks is resumed with `GET` + `Last-Event-ID` when the server
gave event ids: the answer arrives whole, once. Without ids the request gets an error instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.servers.peer import SERVER_ARGV, SERVER_ENV, payload
from tests.support.bridge import run_bridge
from tests.support.procs import Started

from .servers import cutting_proxy
from .support import Log, session

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

SIZE = 2 * 1024 * 1024


def _port(bridge: Started) -> int:
    return int(bridge.url.rsplit(":", 1)[1])


async def test_a_broken_answer_stream_is_resumed(full_bridge: Started, log: Log) -> None:
    with cutting_proxy(_port(full_bridge), b'"big"', after=256 * 1024) as (port, cuts):
        async with session(f"http://127.0.0.1:{port}/mcp", "--log-level", "info", log=log) as client:
            text = payload(await client.call_tool("big", {"n": SIZE}))
            assert payload(await client.call_tool("echo", {"after": "resume"})) == {"after": "resume"}
    assert cuts.done == 1
    assert text == ("0123456789" * (SIZE // 10 + 1))[:SIZE]
    assert "resuming a request's stream after event" in log.text()


@pytest.fixture
def unresumable(tmp_path: Path) -> Iterator[Started]:
    with run_bridge(SERVER_ARGV, tmp_path / "bridge.log", ["--no-resume"], env=SERVER_ENV) as started:
        yield started


async def test_without_event_ids_the_request_gets_an_error(unresumable: Started, log: Log) -> None:
    with cutting_proxy(_port(unresumable), b'"big"', after=256 * 1024) as (port, cuts):
        async with session(f"http://127.0.0.1:{port}/mcp", log=log) as client:
            with pytest.raises(MCPError) as caught:
                await client.call_tool("big", {"n": SIZE})
            assert payload(await client.call_tool("echo", {"still": "usable"})) == {"still": "usable"}
    assert cuts.done == 1
    assert "no event id to resume from" in caught.value.message
