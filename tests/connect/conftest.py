"""Fixtures: one real `bridge run` around the full-protocol server for the whole run, and the URL
of each of its transports, for `bridge connect` to reach."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.conftest import ECHO_SERVER
from tests.servers.peer import SERVER_ARGV, SERVER_ENV
from tests.support.bridge import run_bridge
from tests.support.procs import Started

from .support import PATHS, TOKEN, Log

TRANSPORTS = ["streamable", "sse"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def full_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """`bridge run` around `tests.servers.full_protocol`, shared by every test that only reads."""
    log_path = tmp_path_factory.mktemp("connect-bridge") / "bridge.log"
    with run_bridge(SERVER_ARGV, log_path, env=SERVER_ENV) as started:
        yield started
    assert "Traceback" not in started.log(), started.log()[-3000:]


@pytest.fixture(scope="session")
def echo_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """A bridge around the tiny raw echo server (quick to start), for tests that need little."""
    log_path = tmp_path_factory.mktemp("echo-bridge") / "bridge.log"
    with run_bridge([sys.executable, str(ECHO_SERVER)], log_path) as started:
        yield started


@pytest.fixture(scope="session")
def guarded_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """A bridge that wants the bearer token `TOKEN` (around the tiny echo server)."""
    log_path = tmp_path_factory.mktemp("guarded-bridge") / "bridge.log"
    with run_bridge([sys.executable, str(ECHO_SERVER)], log_path, ["--auth-token", TOKEN]) as started:
        yield started


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def remote_url(full_bridge: Started, transport: str) -> str:
    """The full-protocol bridge's URL for this test's transport (`bridge connect` picks it by itself)."""
    return full_bridge.url + PATHS[transport]


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path / "connect.stderr")
