"""(1) Through `bridge connect` to a bridge, over either remote transport, tools, prompts and
resources give what direct stdio gives."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.servers.peer import Peer, payload, stdio_parameters
from tests.support.procs import Started

from .support import PATHS, Log, drive, refused, session

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

ARGUMENTS = {"n": 1, "big": 2**70, "nested": {"list": [1, "x", None, True, 1.5]}, "text": "é€😀 \"q\" \\ \n"}
TRANSPORT_NAMES = {"streamable": "Streamable HTTP", "sse": "legacy SSE"}


async def _refused(call: Any) -> dict[str, Any]:
    try:
        await call
    except MCPError as exc:
        return {"code": exc.code, "message": exc.message}
    raise AssertionError("the call was expected to fail")


async def tour(client: Client) -> dict[str, Any]:
    """Everything a client reads of the full-protocol server, as plain data."""
    return {
        "server": client.server_info.model_dump(mode="json") if client.server_info else None,
        "protocol": client.protocol_version,
        "tools": [tool.model_dump(mode="json") for tool in (await client.list_tools()).tools],
        "echo": (await client.call_tool("echo", ARGUMENTS)).model_dump(mode="json"),
        "unknown tool": await _refused(client.call_tool("no-such-tool", {})),
        "prompts": [prompt.model_dump(mode="json") for prompt in (await client.list_prompts()).prompts],
        "prompt": (await client.get_prompt("greet", {"name": "Ada"})).model_dump(mode="json"),
        "unknown prompt": await _refused(client.get_prompt("nope", {})),
        "resources": [r.model_dump(mode="json") for r in (await client.list_resources()).resources],
        "read": (await client.read_resource("test://full/b")).model_dump(mode="json"),
        "unknown resource": await _refused(client.read_resource("test://full/zzz")),
        "env": payload(await client.call_tool("whoami", {}))["env"],
    }


async def test_same_results_as_direct_stdio(remote_url: str, transport: str, log: Log) -> None:
    async with Peer().client(stdio_parameters()) as client:
        reference = await tour(client)
    async with session(remote_url, "--log-level", "info", log=log) as client:
        through = await tour(client)
        methods = payload(await client.call_tool("received", {}))["methods"]
    assert through == reference
    assert reference["echo"]["structured_content"] == ARGUMENTS
    # The child saw the client's own handshake (the discover probe was answered by `bridge connect`).
    assert methods[:3] == ["initialize", "notifications/initialized", "tools/list"]
    assert f"connected to {remote_url}: {TRANSPORT_NAMES[transport]} session" in log.text()


@pytest.mark.parametrize("transport", ["streamable", "sse"])
def test_a_fixed_transport(echo_bridge: Started, transport: str) -> None:
    """`--transport` names one transport; `auto` found the same one above by itself."""
    ran = drive(echo_bridge.url + PATHS[transport], "--transport", transport, "--log-level", "info")
    assert ran.code == 0, ran.stderr
    assert ran.answers[0]["result"]["serverInfo"]["name"] == "echo"
    assert f"{TRANSPORT_NAMES[transport]} session" in ran.stderr


async def test_the_wrong_fixed_transport_is_a_clear_error(echo_bridge: Started, log: Log) -> None:
    async with refused(echo_bridge.url + "/sse", "--transport", "streamable", log=log) as errors:
        assert "HTTP 405" in errors[0].message
    assert len(log.lines()) == 1 and "HTTP 405" in log.lines()[0]
