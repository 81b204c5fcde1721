"""(3) Large messages cross whole in both directions: no 1 MiB limit anywhere on the way (the
SDK's own SSE clients refuse events above 1 MiB; `bridge connect` parses its streams itself)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.peer import SERVER_ARGV, SERVER_ENV, Peer, payload
from tests.support.bridge import run_bridge
from tests.support.procs import Started

from .support import Log, session

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

SIZES = [100 * 1024, 2 * 1024 * 1024]


def digits(size: int) -> str:
    return ("0123456789" * (size // 10 + 1))[:size]


async def test_large_results_and_arguments(remote_url: str, log: Log) -> None:
    async with session(remote_url, log=log) as client:
        for size in SIZES:
            assert payload(await client.call_tool("big", {"n": size})) == digits(size)
        blob = "".join(chr(0x41 + i % 26) for i in range(2 * 1024 * 1024)) + "é€😀"
        assert payload(await client.call_tool("echo", {"blob": blob})) == {"blob": blob}


@pytest.fixture(scope="module")
def json_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """A bridge answering request POSTs with application/json instead of an event stream."""
    log_path = tmp_path_factory.mktemp("json-bridge") / "bridge.log"
    with run_bridge(SERVER_ARGV, log_path, ["--json-response"], env=SERVER_ENV) as started:
        yield started


async def test_json_answers(json_bridge: Started, log: Log) -> None:
    """Answers as JSON bodies; the server's own requests then come on the GET stream."""
    peer = Peer("json")
    async with session(json_bridge.url + "/mcp", log=log, peer=peer) as client:
        assert payload(await client.call_tool("big", {"n": SIZES[-1]})) == digits(SIZES[-1])
        assert payload(await client.call_tool("sample", {"prompt": "json?"})) == {
            "model": "model-json", "text": "json answers json?"}
        assert payload(await client.call_tool("echo", {"x": 1})) == {"x": 1}
