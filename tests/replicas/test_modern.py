"""MCP 2026-07-28 requests through the nginx recipe over three replicas: no affinity needed.

A 2026-07-28 request carries no session: the recipe sends it to `mcp_new` (least connections over
every replica) and whichever replica gets it serves it with a child of its own for the principal.
The `mcp` SDK's client, pinned to 2026-07-28, makes its calls; they land on several replicas, all
answer, and a replica killed in the middle costs nothing: the next calls go to the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from tests.replicas.harness import ROOT, Fleet, fleet
from tests.replicas.test_nginx import REPLICA_OPTIONS, Nginx, nginx_binary, nginx_in_front
from tests.servers.peer import SERVER_ARGV, payload

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

TAG_ENV = "FULL_PROTOCOL_TAG"
CALLS = 12


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[Fleet, Nginx]]:
    nginx_binary()
    options = (*REPLICA_OPTIONS, "--env", f"PYTHONPATH={ROOT}", "--idle-timeout", "2")
    with (fleet(tmp_path, 3, options, server=SERVER_ARGV, tag_env=TAG_ENV) as replicas,
          nginx_in_front(replicas, tmp_path / "nginx") as proxy):
        yield replicas, proxy


async def whoami(client: Client) -> str:
    tag: str = payload(await client.call_tool("whoami", {"name": TAG_ENV}))["env"]
    return tag


async def test_calls_spread_over_replicas_and_survive_a_killed_one(balanced: tuple[Fleet, Nginx]) -> None:
    replicas, proxy = balanced
    async with Client(proxy.url + "/mcp", mode="2026-07-28") as client:
        assert client.protocol_version == "2026-07-28"
        before = [await whoami(client) for _ in range(CALLS)]
        assert len(set(before)) >= 2, f"least_conn spreads stateless requests: {before}"
        victim = replicas.replicas[0]
        victim.kill()
        after = [await whoami(client) for _ in range(CALLS)]
    assert victim.name not in after and len(after) == CALLS
    assert set(before) | set(after) <= {r.name for r in replicas.replicas}
