"""Real processes for tests: free loopback ports, started servers, and the process table.

Every process started here is put in its own process group and ended (group-wide) when its
context exits, so a failing test never leaves anything running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def script(name: str) -> str:
    """The path of a console script installed in the test environment (e.g. `bridge`)."""
    path = VENV_BIN / name
    return str(path) if path.exists() else name


@dataclass
class Started:
    """A process started by `start_server`; `output` holds what it wrote once it has ended."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until `url` answers any HTTP status, or fail if the process dies first."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last!r}")


def end_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> int:
    """SIGTERM the process group, then SIGKILL after `grace`; always reap. Returns the exit code."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=grace)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def start_server(
    argv: Sequence[str],
    ready_url: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
) -> Iterator[Started]:
    """Start `argv` in a new process group, wait for `ready_url`, end the whole group on exit."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
    started = Started(proc=proc, url=ready_url, log_path=log_path)
    try:
        wait_http(ready_url, proc, timeout)
        yield started
    finally:
        end_group(proc)


def descendants(pid: int) -> list[psutil.Process]:
    """Every live descendant of `pid` (children, grandchildren, ...), zombies included."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def wait_no_descendants(pid: int, timeout: float = 10.0) -> list[psutil.Process]:
    """Wait until `pid` has no descendant left; returns what is still there at the deadline."""
    deadline = time.monotonic() + timeout
    left = descendants(pid)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = descendants(pid)
    return left


def processes_in_group(pgid: int) -> list[psutil.Process]:
    """Processes whose process group is `pgid` (catches re-parented grandchildren)."""
    found: list[psutil.Process] = []
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(p.pid) == pgid:
                found.append(p)
    return found
