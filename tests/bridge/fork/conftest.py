"""Fixtures for the `--fork-server` suites: a real `bridge run --fork-server` process, what its log,
`/metrics`, `/readyz` and the process table say about its template and children, and the SDK's own
clients for a session over either transport.

After each bridge the `fork_bridge` fixture checks what the other bridge suites check, in the form
fork mode needs: once its sessions are over no child is left beside the template; once the bridge
has stopped, no process it ever had below it (template, middle process, child, grandchild) still
runs; and its log holds no traceback. Every such process is killed at teardown even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import httpx2
import mcp_types as types
import psutil
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.bridge import run_bridge
from tests.support.procs import Started, Watch, assert_log_clean, descendants

REPO = Path(__file__).resolve().parents[3]
ENV_SERVER = [sys.executable, "-m", "tests.bridge.fork.env_server"]
"""The fork suites' own server (see `env_server.py`): `env`, `environ`, `loaded`, `ids`, `random`, `crash`."""
ECHO_SERVER = [sys.executable, "-m", "tests.bridge.core.echo_server"]
WAIT = 15.0
"""Longest wait for something that should happen; only ever reached when a test fails."""

Transport = Literal["streamable", "sse"]
TRANSPORTS: tuple[Transport, ...] = ("streamable", "sse")
T = TypeVar("T")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ----- waiting, processes ------------------------------------------------------------------------


def until(probe: Callable[[], T], done: Callable[[T], bool], within: float = WAIT, what: str = "") -> T:
    """Poll `probe` until `done` holds for its value; fails the test after `within` seconds."""
    deadline = time.monotonic() + within
    value = probe()
    while not done(value):
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {within}s: {what or 'the condition'}; last seen: {value!r}")
        time.sleep(0.05)
        value = probe()
    return value


def stat(pid: int) -> dict[str, Any]:
    """State, parent, process group and session of `pid`, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return {"state": fields[0], "ppid": int(fields[1]), "pgid": int(fields[2]), "sid": int(fields[3])}


def environ(pid: int) -> dict[str, str]:
    """The environment `pid` was started with, from /proc/<pid>/environ."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().split(b"\0")
    pairs = (e.decode(errors="replace").partition("=") for e in entries if e)
    return {name: value for name, _, value in pairs}


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def exists(pid: int) -> bool:
    """`pid` is in the process table at all (zombies included): `/proc/<pid>` is there."""
    return Path(f"/proc/{pid}").exists()


# ----- the bridge --------------------------------------------------------------------------------


@dataclass
class ForkBridge:
    """A running `bridge run --fork-server` and what it says about its template and children."""

    started: Started

    @property
    def url(self) -> str:
        return self.started.url

    @property
    def pid(self) -> int:
        return self.started.pid

    def log(self) -> str:
        return self.started.log()

    def template_pids(self) -> list[int]:
        """Every template the bridge started, in order ("fork server: template pid N")."""
        return [int(n) for n in re.findall(r"fork server: template pid (\d+)", self.log())]

    def template_pid(self) -> int:
        pids = until(self.template_pids, bool, what="a template pid in the log")
        return pids[-1]

    def forked(self) -> list[int]:
        """The children forked from a template ("child forked: pid N"), in order."""
        return [int(n) for n in re.findall(r"child forked: pid (\d+)", self.log())]

    def execed(self) -> list[int]:
        """The children started by exec ("child started: pid N"), in order."""
        return [int(n) for n in re.findall(r"child started: pid (\d+)", self.log())]

    def metrics(self) -> dict[str, float]:
        """`/metrics` as {'name{labels}': value}."""
        found: dict[str, float] = {}
        for line in httpx.get(self.url + "/metrics", timeout=10).text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                found[key] = float(value)
        return found

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def ready(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(self.url + "/readyz", timeout=30)
        body: dict[str, Any] = response.json()
        return response.status_code, body

    def others(self) -> list[int]:
        """The bridge's live descendants besides its templates: session children (and theirs)."""
        templates = set(self.template_pids())
        return [p.pid for p in descendants(self.pid) if p.pid not in templates and running(p.pid)]


ForkBridgeFactory = Callable[..., contextlib.AbstractContextManager[ForkBridge]]


@pytest.fixture
def fork_bridge(tmp_path: Path) -> Iterator[ForkBridgeFactory]:
    """`with fork_bridge(*options, child=argv, env={...}) as b:` — `bridge run --fork-server
    [options] -- argv` (default: the env server) on a free port of 127.0.0.1, cwd the repository.

    On leaving the block: no child is left beside the template once its sessions are over, the
    bridge gets SIGTERM, then nothing it ever had below it still runs and its log has no traceback.
    `fork=False` starts the same bridge without `--fork-server` (the exec reference).
    """
    watch = Watch()
    counter = iter(range(1, 1000))

    @contextlib.contextmanager
    def start(
        *options: str, child: Sequence[str] = tuple(ENV_SERVER), env: Mapping[str, str] | None = None,
        fork: bool = True,
    ) -> Iterator[ForkBridge]:
        log_path = tmp_path / f"bridge-{next(counter)}.log"
        flags = ("--fork-server", *options) if fork else tuple(options)
        given = {"PYTHONPATH": str(REPO), **(env or {})}
        with run_bridge(child, log_path, flags, env=given, check_no_children=False) as started:
            watch.add(started.pid)
            b = ForkBridge(started)
            yield b
            left = until(b.others, lambda pids: not pids, what="no session child left beside the template")
            assert not left
        gone = until(watch.pids, lambda pids: not pids, what="nothing the bridge had still running")
        assert not gone
        assert_log_clean(b.log())

    try:
        yield start
    finally:
        watch.end()


# ----- SDK clients -------------------------------------------------------------------------------


def client(transport: Transport, url: str, headers: Mapping[str, str] | None = None) -> Client:
    """An `mcp.Client` for one new session of the bridge at `url`, sending `headers`."""
    given = dict(headers or {})
    if transport == "sse":
        return Client(sse_client(f"{url}/sse", headers=given, sse_read_timeout=60.0), read_timeout_seconds=30.0)
    http = httpx2.AsyncClient(headers=given, timeout=httpx2.Timeout(30.0, read=60.0))
    # A session (the handshake era): these suites are about the child a session gets.
    return Client(streamable_http_client(f"{url}/mcp", http_client=http), read_timeout_seconds=30.0, mode="legacy")


def text(result: types.CallToolResult) -> str:
    assert not result.is_error, result
    block = result.content[0]
    assert isinstance(block, types.TextContent), block
    return block.text


async def tool(session: Client, called: str, /, **arguments: Any) -> Any:
    """Call a tool of the env server (or the echo server's `pid`) and decode its JSON answer."""
    return json.loads(text(await session.call_tool(called, arguments)))
