"""What the reliability suite watches on the bridge process: its descendants, open fds and RSS
(read from /proc), and the children argv of this suite."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import psutil

CHILDREN = Path(__file__).resolve().parent / "children"
STEADY_ARGV = [sys.executable, "-S", str(CHILDREN / "steady.py")]
FAULTY_ARGV = [sys.executable, "-S", str(CHILDREN / "faulty.py")]


def fd_count(pid: int) -> int:
    """Open file descriptors of `pid` (entries of /proc/PID/fd)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def descendant_pids(pid: int) -> list[int]:
    """Every live descendant of `pid` (zombies included: a zombie is a child not yet reaped)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def settle(check: Callable[[], bool], within: float, interval: float = 0.05) -> bool:
    """Poll `check` (a fact about other processes: there is no event to await) until it holds or
    `within` seconds pass; returns whether it held."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(interval)
    return True


def log_lines(log: str, session_id: str) -> list[str]:
    """The bridge's log lines tagged with `session_id` (text format: `... [<session>] message`)."""
    tag = f"[{session_id}]"
    return [line for line in log.splitlines() if tag in line]
