"""Fixtures of the 2026-07-28 suites: the full-protocol server behind a bridge serving the revision.

Every bridge here runs with a short `--idle-timeout`: the children the bridge pools for stateless
requests end once idle, so the `bridge` fixture's check (no child left) holds them to it too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.peer import SERVER_ARGV, SERVER_ENV
from tests.support.bridge import run_bridge
from tests.support.procs import Started

FULL = list(SERVER_ARGV)
"""The full-protocol stdio server (`tests/servers/full_protocol.py`); it needs `SERVER_ENV`."""
ENV = dict(SERVER_ENV)
IDLE = ("--idle-timeout", "1")
"""Pooled children end one second after their last message (what the fixture's final check needs)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """One bridge (modern on, the default) for a module of rows none of which reaches a child."""
    log_path = tmp_path_factory.mktemp("modern-table") / "bridge.log"
    with run_bridge(FULL, log_path, IDLE, env=ENV) as started:
        yield started


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """One bridge (modern on) around the full-protocol server, shared by the suites whose tests
    do not count children; at the end no pooled child may be left (they end once idle)."""
    log_path = tmp_path_factory.mktemp("modern-full") / "bridge.log"
    with run_bridge(FULL, log_path, IDLE, env=ENV) as started:
        yield started
    assert "Traceback" not in started.log()
