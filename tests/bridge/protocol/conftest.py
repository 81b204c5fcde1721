"""Fixtures: one bridge around the full-protocol server for the whole run, and a `target` per
transport. Every bridge-transport test ends by checking that no child of the bridge is left and
that the bridge logged no traceback meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.servers.peer import SERVER_ARGV, SERVER_ENV
from tests.support.bridge import run_bridge
from tests.support.procs import Started, wait_no_descendants

from .clients import Target, Transport

TRANSPORTS: list[Transport] = ["stdio", "sse", "streamable"]
"""Direct stdio is the reference; "sse" and "streamable" go through the bridge."""


@pytest.fixture(scope="session")
def protocol_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    log_path = tmp_path_factory.mktemp("protocol-bridge") / "bridge.log"
    with run_bridge(SERVER_ARGV, log_path, env=SERVER_ENV) as started:
        health = httpx.get(f"{started.url}/healthz", timeout=10.0)
        assert health.status_code == 200, f"/healthz answered {health.status_code}\n{started.log()[-3000:]}"
        yield started


@pytest.fixture(params=TRANSPORTS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    transport: Transport = request.param
    if transport == "stdio":
        yield Target("stdio")
        return
    bridge: Started = request.getfixturevalue("protocol_bridge")
    logged_before = len(bridge.log())
    yield Target(transport, bridge.url)
    left = wait_no_descendants(bridge.pid, timeout=15.0)
    logged = bridge.log()[logged_before:]
    assert not left, (
        f"children of the bridge outlived their sessions: {[p.pid for p in left]}\n{logged[-3000:]}"
    )
    assert "Traceback" not in logged, logged[-5000:]
