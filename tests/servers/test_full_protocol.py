"""The full-protocol test server itself, over direct stdio: its handshake era, its prompt and
resources, and clear errors for bad input. (Its protocol directions are covered, on every
transport, by `tests/bridge/protocol/`.)"""

from __future__ import annotations

import anyio
import pytest
from mcp import MCPError
from mcp_types import INVALID_PARAMS, TextContent

from tests.servers.peer import Peer, payload, stdio_parameters

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]


async def test_speaks_only_the_handshake_era() -> None:
    async with Peer().client(stdio_parameters()) as client:
        assert client.protocol_version == "2025-11-25"
        assert client.server_info is not None and client.server_info.name == "full-protocol"


async def test_discover_probe_is_refused_so_clients_fall_back() -> None:
    peer = Peer()
    async with peer.client(stdio_parameters()) as client:
        with pytest.raises(MCPError):
            await client.session.send_discover("2026-07-28")
        assert payload(await client.call_tool("echo", {"still": "usable"})) == {"still": "usable"}


async def test_prompt_and_resources() -> None:
    async with Peer().client(stdio_parameters()) as client:
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["greet"]
        got = await client.get_prompt("greet", {"name": "Ada"})
        content = got.messages[0].content
        assert isinstance(content, TextContent) and content.text == "Hello, Ada!"
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("test://full/none")
        assert unknown.value.code == INVALID_PARAMS


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("no_such_tool", {}),
        ("big", {}),
        ("big", {"n": "ten"}),
        ("big", {"n": True}),
        ("progress", {"n": 1.5}),
        ("slow", {"tag": "t", "seconds": "soon"}),
        ("log", {"levels": "debug"}),
    ],
)
async def test_bad_input_is_a_clear_error(tool: str, arguments: dict[str, object]) -> None:
    async with Peer().client(stdio_parameters()) as client:
        with pytest.raises(MCPError) as error:
            await client.call_tool(tool, arguments)
        assert error.value.code == INVALID_PARAMS
        expected = tool if tool == "no_such_tool" else "argument"
        assert expected in error.value.message
        assert payload(await client.call_tool("echo", {"ok": 1})) == {"ok": 1}


async def test_gate_holds_a_call_until_opened() -> None:
    waiting = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        assert message == "waiting"
        waiting.set()

    async with Peer().client(stdio_parameters()) as client:
        passed: list[object] = []
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def held() -> None:
                    passed.append(
                        payload(await client.call_tool("gate", {"name": "g"}, progress_callback=on_progress))
                    )

                tg.start_soon(held)
                await waiting.wait()
                assert passed == []
                assert payload(await client.call_tool("open", {"name": "g"})) == {"opened": "g"}
        assert passed == [{"gate": "g", "passed": True}]
