"""Fixtures for every bridge suite: a tiny stdio test child and a real `bridge run` process."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.support.bridge import run_bridge
from tests.support.procs import Started

ECHO_SERVER = Path(__file__).parent / "core" / "echo_server.py"

BridgeFactory = Callable[..., contextlib.AbstractContextManager[Started]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def echo_argv() -> list[str]:
    """argv of the raw JSON-RPC echo child (see `tests/bridge/core/echo_server.py`)."""
    return [sys.executable, str(ECHO_SERVER)]


@pytest.fixture
def bridge(tmp_path: Path, echo_argv: list[str]) -> BridgeFactory:
    """`with bridge("--idle-timeout", "5", child=[...], env={...}) as b:` — a real bridge on a free port.

    The child defaults to the echo server; on exit the bridge gets SIGTERM and no child may remain.
    """
    counter = iter(range(1, 1000))

    @contextlib.contextmanager
    def start(
        *options: str,
        child: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        check_no_children: bool = True,
    ) -> Iterator[Started]:
        log_path = tmp_path / f"bridge-{next(counter)}.log"
        with run_bridge(child or echo_argv, log_path, options, env=env,
                        check_no_children=check_no_children) as started:
            yield started

    return start
