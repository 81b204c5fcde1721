"""The `bridge connect` config in docs/migration.md works as written (URL and token swapped in)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.support.procs import Started, script

from .support import SESSION_LIMIT, TOKEN, Log

pytestmark = pytest.mark.anyio

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migration.md"


def documented_entry() -> dict[str, Any]:
    """The one server entry in the guide's JSON configs that runs `bridge connect`."""
    found: list[dict[str, Any]] = []
    for block in re.findall(r"^```json\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), flags=re.M | re.S):
        for server in json.loads(block).get("mcpServers", {}).values():
            if server.get("command") == "bridge" and server.get("args", [])[:1] == ["connect"]:
                found.append(server)
    assert len(found) == 1, found
    return found[0]


async def test_the_documented_config_connects(guarded_bridge: Started, log: Log) -> None:
    entry = documented_entry()
    args = [arg.replace("https://mcp.example.com", guarded_bridge.url) for arg in entry["args"]]
    env = {name: TOKEN if value == "<token>" else value for name, value in entry["env"].items()}
    params = StdioServerParameters(command=script("bridge"), args=args, env=env)
    with anyio.fail_after(SESSION_LIMIT), log.writer() as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            assert [tool.name for tool in (await client.list_tools()).tools] == ["echo"]
    assert TOKEN not in " ".join(args) and not log.lines()
