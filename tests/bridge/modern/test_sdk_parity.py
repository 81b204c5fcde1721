"""The SDK's own `Client` at 2026-07-28 (pinned, and auto: it must stay there) through the bridge gets
what a handshake-era session through the bridge and direct stdio get, minus era-only fields."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from tests.servers.peer import stdio_parameters
from tests.support.procs import Started

from .wire import VERSION, strip_era

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def exercise(client: Client) -> dict[str, Any]:
    """Everything the full-protocol server offers without a server-to-client request."""
    return {
        "tools/list": dump(await client.list_tools()),
        "echo": dump(await client.call_tool("echo", {"a": 1, "b": ["x", None, {"c": True}]})),
        "prompts/list": dump(await client.list_prompts()),
        "greet": dump(await client.get_prompt("greet", {"name": "Ada"})),
        "resources/list": dump(await client.list_resources()),
        "a": dump(await client.read_resource("test://full/a")),
        "b": dump(await client.read_resource("test://full/b")),
    }


async def test_2026_clients_get_what_handshake_and_stdio_get(full: Started) -> None:
    url = full.url + "/mcp"
    runs: dict[str, dict[str, Any]] = {}
    versions: dict[str, str] = {}
    for name, client in (("stdio", Client(stdio_parameters(), mode="legacy", read_timeout_seconds=20)),
                         ("handshake", Client(url, mode="legacy", read_timeout_seconds=20)),
                         ("pinned", Client(url, mode=VERSION, read_timeout_seconds=20)),
                         ("auto", Client(url, read_timeout_seconds=20))):
        async with client:
            versions[name] = client.protocol_version
            runs[name] = await exercise(client)
            if name == "auto":
                assert client.server_info is not None and client.server_info.name == "full-protocol"
    assert versions == {"stdio": "2025-11-25", "handshake": "2025-11-25", "pinned": VERSION, "auto": VERSION}
    reference = strip_era(runs["stdio"])
    assert reference["echo"]["structuredContent"] == {"a": 1, "b": ["x", None, {"c": True}]}
    assert [m["content"]["text"] for m in reference["greet"]["messages"]] == ["Hello, Ada!"]
    for name, run in runs.items():
        stripped = strip_era(run)
        differing = {key: (stripped[key], reference[key]) for key in reference if stripped[key] != reference[key]}
        assert not differing, f"{name} differs from direct stdio: {differing}"
    for key in ("tools/list", "prompts/list", "resources/list", "a"):  # what makes them era-only
        assert runs["pinned"][key].get("resultType") == "complete", runs["pinned"][key]
        assert runs["pinned"][key].get("cacheScope") == "private", runs["pinned"][key]
