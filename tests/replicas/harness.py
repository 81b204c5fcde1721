"""Bridge replicas behind a real balancer, driven by the `mcp` SDK's own clients.

`Fleet` runs replicas `r1`, `r2`, ... (`bridge run --replica-id rN`, each around the echo test
server with `ECHO_TAG=rN`, so a session can ask which replica serves it; or around another server,
told its replica in the variable `tag_env`), each killable,
restartable and drainable. `run_sessions` opens sessions through the balancer's URL with the SDK's
`streamable_http_client` or `sse_client`, makes calls in each, and records per session which
replica answered and how it ended. Each replica's `/metrics` says how many requests reached it for
a session it does not hold (`misrouted`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.procs import free_port, script, wait_http

Transport = Literal["streamable", "sse"]
TRANSPORTS: tuple[Transport, ...] = ("streamable", "sse")
ECHO_ARGV = [sys.executable, "-m", "tests.bridge.core.echo_server"]
ROOT = Path(__file__).resolve().parents[2]
MISROUTED_REASONS = ("other_replica_session", "unknown_session", "expired_session")


@dataclass
class Replica:
    """One `bridge run` process on its own port, started again on the same port after a kill."""

    name: str
    port: int
    log_dir: Path
    options: Sequence[str] = ()
    server: Sequence[str] = tuple(ECHO_ARGV)
    """The stdio server each session's child runs."""
    tag_env: str = "ECHO_TAG"
    """The variable that tells the server its replica's name."""
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        argv = [script("bridge"), "run", "--host", "127.0.0.1", "--port", str(self.port),
                "--replica-id", self.name, "--env", f"{self.tag_env}={self.name}", *self.options, "--", *self.server]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=ROOT, start_new_session=True)
        wait_http(self.url + "/healthz", self.proc)

    def kill(self) -> None:
        """SIGKILL the bridge and its children (a lost machine)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        """SIGTERM the bridge alone (a rolling update): it drains."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
                os.killpg(self.proc.pid, signal.SIGTERM)  # a second signal: no drain
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def metrics(self) -> dict[str, float]:
        """This replica's `/metrics` as {'name{labels}': value} (empty when it does not answer)."""
        try:
            text = httpx.get(self.url + "/metrics", timeout=5).text
        except httpx.HTTPError:
            return {}
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                found[key] = float(value)
        return found

    def misrouted(self) -> int:
        """Requests that reached this replica for a session it does not hold (404s, by reason)."""
        found = self.metrics()
        return int(sum(v for k, v in found.items() if k.startswith("bridge_http_errors_total{")
                       and 'status="404"' in k and any(f'reason="{r}"' in k for r in MISROUTED_REASONS)))

    def sessions_opened(self) -> int:
        found = self.metrics()
        return int(sum(v for k, v in found.items() if k.startswith("bridge_sessions_total{")))


@dataclass
class Fleet:
    replicas: list[Replica] = field(default_factory=list)

    def by_name(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def misrouted(self) -> int:
        return sum(r.misrouted() for r in self.replicas)


@contextlib.contextmanager
def fleet(log_dir: Path, count: int = 3, options: Sequence[str] = (), server: Sequence[str] = tuple(ECHO_ARGV),
          tag_env: str = "ECHO_TAG") -> Iterator[Fleet]:
    """`count` replicas r1..rN on free ports, each serving `server`, all ended (with their children) on exit."""
    replicas = [Replica(f"r{n}", free_port(), log_dir, options, server, tag_env) for n in range(1, count + 1)]
    try:
        for replica in replicas:
            replica.start()
        yield Fleet(replicas)
    finally:
        for replica in replicas:
            replica.stop()


def client_transport(base_url: str, transport: Transport) -> Any:
    if transport == "sse":
        return sse_client(f"{base_url}/sse", sse_read_timeout=30.0)
    return streamable_http_client(f"{base_url}/mcp")


@dataclass
class SessionResult:
    """What one SDK session through the balancer saw."""

    transport: Transport
    replica: str = ""  # the replica that served it ("" if it never got that far)
    calls_ok: int = 0
    error: str = ""  # how it failed, if it did

    @property
    def ok(self) -> bool:
        return not self.error


async def replica_of(client: Client) -> str:
    result = await client.call_tool("pid", {})
    text = result.content[0].text if result.content and hasattr(result.content[0], "text") else ""
    return json.loads(text)["tag"] if text else ""


async def one_session(base_url: str, transport: Transport, calls: int, pause: float = 0.0,
                      within: float = 30.0) -> SessionResult:
    """Open a session through the balancer, find its replica, make `calls` echo calls."""
    outcome = SessionResult(transport)
    try:
        with anyio.fail_after(within):
            async with Client(client_transport(base_url, transport), read_timeout_seconds=10.0, mode="legacy") as client:
                outcome.replica = await replica_of(client)
                for n in range(calls):
                    result = await client.call_tool("echo", {"text": f"call {n}"})
                    if result.is_error:
                        raise RuntimeError(f"call {n}: tool error {result.content!r}")
                    outcome.calls_ok += 1
                    if pause:
                        await anyio.sleep(pause)
    except Exception as exc:  # a failure is the result here, to be counted by the test
        outcome.error = describe(exc)
    return outcome


def describe(exc: BaseException) -> str:
    """Every distinct leaf of an exception (group), `Type: message`: what the client was really
    told (the SDK's task groups wrap it)."""
    leaves: list[str] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(f"{type(error).__name__}: {error}")

    walk(exc)
    return "; ".join(dict.fromkeys(leaves))[:300]


async def run_sessions(base_url: str, transport: Transport, sessions: int, calls: int,
                       pause: float = 0.0) -> list[SessionResult]:
    """`sessions` concurrent SDK sessions of `calls` calls each."""
    results: list[SessionResult] = []

    async def one() -> None:
        results.append(await one_session(base_url, transport, calls, pause))

    async with anyio.create_task_group() as tg:
        for _ in range(sessions):
            tg.start_soon(one)
    return results


def spread(results: Sequence[SessionResult]) -> dict[str, int]:
    """Sessions per replica."""
    counts: dict[str, int] = {}
    for result in results:
        if result.replica:
            counts[result.replica] = counts.get(result.replica, 0) + 1
    return counts


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(interval)
    return False
