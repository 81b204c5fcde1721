"""Requests in both directions: the child asks the client (sampling, elicitation, roots, ping) and
the client's answers come back to the child; the client pings the child."""

from __future__ import annotations

import pytest

from tests.servers.peer import Peer, payload

from .clients import Target, connect

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]


async def test_negotiates_the_handshake_era(target: Target) -> None:
    """A handshake-era client (these suites pin it; tests/bridge/modern has the 2026-07-28 one):
    the child sees the client's own `initialize` first, on every transport."""
    async with connect(target) as client:
        assert client.protocol_version == "2025-11-25"
        assert client.server_info is not None and client.server_info.name == "full-protocol"
        assert client.server_capabilities.resources is not None
        assert client.server_capabilities.resources.subscribe is True
        tools = await client.list_tools()
        assert {"sample", "elicit", "roots", "slow", "whoami"} <= {tool.name for tool in tools.tools}
        methods = payload(await client.call_tool("received", {}))["methods"]
    assert methods == ["initialize", "notifications/initialized", "tools/list", "tools/call"]


async def test_sampling_is_answered_by_the_client(target: Target) -> None:
    peer = Peer("ada")
    async with connect(target, peer) as client:
        answer = payload(await client.call_tool("sample", {"prompt": "what is 2+2?"}))
    assert answer == {"model": "model-ada", "text": "ada answers what is 2+2?"}
    assert peer.sampled.items == ["what is 2+2?"]


async def test_elicitation_is_answered_by_the_client(target: Target) -> None:
    async with connect(target, Peer("grace")) as client:
        answer = payload(await client.call_tool("elicit", {"message": "your name?"}))
    assert answer == {"action": "accept", "content": {"name": "grace"}}


async def test_roots_are_listed_by_the_client(target: Target) -> None:
    peer = Peer("linus")
    async with connect(target, peer) as client:
        answer = payload(await client.call_tool("roots", {}))
    assert answer == {"roots": peer.roots}


async def test_ping_both_ways(target: Target) -> None:
    async with connect(target) as client:
        await client.send_ping()
        assert payload(await client.call_tool("ping_client", {})) == {"pong": True}
        await client.send_ping()


async def test_server_requests_interleave_with_calls(target: Target) -> None:
    """Several child-to-client requests in a row, then ordinary calls: nothing is lost or stuck."""
    peer = Peer("mixed")
    async with connect(target, peer) as client:
        for i in range(5):
            assert (
                payload(await client.call_tool("sample", {"prompt": f"p{i}"}))["text"]
                == f"mixed answers p{i}"
            )
            assert payload(await client.call_tool("echo", {"i": i})) == {"i": i}
    assert peer.sampled.items == [f"p{i}" for i in range(5)]
