"""Sessions are isolated: many concurrent clients, all using the same request ids (every SDK client
counts from 0), each get only their own answers, their own child, and their own server requests."""

from __future__ import annotations

import anyio
import pytest

from tests.servers.peer import Peer, payload

from .clients import Target, connect

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

SESSIONS = 20
ROUNDS = 10


async def _session(target: Target, index: int, pids: dict[int, int]) -> None:
    peer = Peer(f"s{index}")
    async with connect(target, peer) as client:
        first = payload(await client.call_tool("whoami", {}))
        for round_ in range(ROUNDS):
            mine = {"session": index, "round": round_, "pad": "x" * (index * 37 + round_)}
            assert payload(await client.call_tool("echo", mine)) == mine
            assert payload(await client.call_tool("whoami", {})) == first
        # Requests and notifications from the child reach this session's client, not another one.
        answer = payload(await client.call_tool("sample", {"prompt": f"from s{index}"}))
        assert answer == {"model": f"model-s{index}", "text": f"s{index} answers from s{index}"}
        assert peer.sampled.items == [f"from s{index}"]
        await client.call_tool("log", {"levels": ["info", "error"], "tag": f"s{index}"})
        await peer.logs.wait_for(lambda logs: len(logs) >= 2)
        await client.send_ping()
        assert [log.data for log in peer.logs.items] == [f"info message s{index}", f"error message s{index}"]
    pids[index] = first["pid"]


async def test_concurrent_sessions_get_only_their_own_answers(target: Target) -> None:
    pids: dict[int, int] = {}
    with anyio.fail_after(90):
        async with anyio.create_task_group() as tg:
            for index in range(SESSIONS):
                tg.start_soon(_session, target, index, pids)
    assert len(pids) == SESSIONS
    assert len(set(pids.values())) == SESSIONS, "two sessions shared one child"


async def test_concurrent_calls_in_one_session_get_their_own_answers(target: Target) -> None:
    answers: dict[int, object] = {}
    async with connect(target) as client:

        async def one(i: int) -> None:
            answers[i] = payload(await client.call_tool("echo", {"call": i, "pad": "y" * i * 101}))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(one, i)
    assert answers == {i: {"call": i, "pad": "y" * i * 101} for i in range(50)}


async def test_whoami_reports_the_child_environment(target: Target) -> None:
    async with connect(target) as client:
        assert payload(await client.call_tool("whoami", {}))["env"] == "full-protocol-tag"
        assert payload(await client.call_tool("whoami", {"name": "NO_SUCH_VARIABLE_HERE"}))["env"] is None
