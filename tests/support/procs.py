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
import threading
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


LOG_PROBLEMS = ("Traceback", "Exception in ASGI application")


def assert_log_clean(log: str) -> None:
    for marker in LOG_PROBLEMS:
        at = log.find(marker)
        assert at == -1, f"the bridge logged {marker!r}:\n{log[max(0, at - 500):at + 3000]}"


class Watch:
    """Every process the watched bridges ever had below them, sampled from a thread: a child the
    bridge leaves behind (even re-parented after the bridge itself exited) is still known, checked
    and ended."""

    def __init__(self) -> None:
        self._seen: dict[int, psutil.Process] = {}
        self._bridges: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def add(self, bridge_pid: int) -> None:
        with self._lock:
            self._bridges.append(bridge_pid)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                for pid in self._bridges:
                    for proc in descendants(pid):
                        self._seen.setdefault(proc.pid, proc)

    def alive(self) -> list[psutil.Process]:
        """The sampled processes still running (`is_running` also rules out a reused pid)."""
        with self._lock:
            seen = list(self._seen.values())
        found = []
        for proc in seen:
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.alive()]

    def left(self, within: float) -> list[int]:
        """The pids of sampled processes still running after up to `within` seconds."""
        deadline = time.monotonic() + within
        while (alive := self.alive()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [proc.pid for proc in alive]

    def end(self) -> None:
        """Stop sampling and SIGKILL whatever is still running."""
        self._stop.set()
        self._thread.join(timeout=5)
        for proc in self.alive():
            with contextlib.suppress(psutil.Error):
                proc.kill()
