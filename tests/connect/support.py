"""`bridge connect` as a real process: started by the SDK's stdio client (the local client's view),
or driven line by line (to see its exit code and stderr exactly)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from tests.servers.peer import Peer
from tests.support.procs import script

SESSION_LIMIT = 30.0
"""Longest a whole client session through `bridge connect` may take in a test."""
PATHS = {"streamable": "/mcp", "sse": "/sse"}
TOKEN = "s3cret-token-for-connect-tests"
"""The bearer token of the `guarded_bridge` fixture."""

INITIALIZE = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "connect-tests", "version": "1"}},
}


def connect_argv(url: str | None, *options: str) -> list[str]:
    """`bridge connect URL OPTIONS` (no URL: it comes from BRIDGE_CONNECT_URL)."""
    return [script("bridge"), "connect", *([url] if url is not None else []), *options]


def parameters(url: str | None, *options: str, env: Mapping[str, str] | None = None) -> StdioServerParameters:
    """`bridge connect URL OPTIONS` as the local client's stdio server."""
    argv = connect_argv(url, *options)
    return StdioServerParameters(command=argv[0], args=argv[1:], env=dict(env or {}))


@dataclass
class Log:
    """A `bridge connect` process's stderr, kept in a file."""

    path: Path

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace") if self.path.exists() else ""

    def lines(self) -> list[str]:
        return [line for line in self.text().splitlines() if line.strip()]

    def writer(self) -> TextIO:
        return open(self.path, "w", encoding="utf-8")


@asynccontextmanager
async def session(
    url: str | None, *options: str, log: Log, peer: Peer | None = None, env: Mapping[str, str] | None = None
) -> AsyncIterator[Client]:
    """An initialized `mcp.Client` whose server is `bridge connect URL OPTIONS`; its stderr goes to
    `log`, which must hold no traceback when the session is over."""
    with anyio.fail_after(SESSION_LIMIT), log.writer() as errlog:
        async with (peer or Peer()).client(stdio_client(parameters(url, *options, env=env), errlog=errlog)) as client:
            yield client
    assert "Traceback" not in log.text(), log.text()


def mcp_error(exc: BaseException) -> MCPError:
    """The MCPError a failed client session raised (the SDK may wrap it in exception groups)."""
    found = exc
    while isinstance(found, BaseExceptionGroup) and found.exceptions:
        found = found.exceptions[0]
    assert isinstance(found, MCPError), repr(exc)
    return found


@asynccontextmanager
async def refused(url: str, *options: str, log: Log, env: Mapping[str, str] | None = None) -> AsyncIterator[list[MCPError]]:
    """A client session that must fail to open; the error (an `MCPError`) is in the list after."""
    errors: list[MCPError] = []
    try:
        async with session(url, *options, log=log, env=env):
            pass
    except BaseException as exc:  # an exception group from the SDK's task group
        errors.append(mcp_error(exc))
    assert errors, "the session opened"
    yield errors


@dataclass
class Ran:
    """What a `bridge connect` driven by `drive` wrote, and how it ended."""

    code: int
    answers: list[dict[str, Any]]
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def drive(url: str, *options: str, messages: list[dict[str, Any] | str] | None = None,
          env: Mapping[str, str] | None = None, timeout: float = 20.0) -> Ran:
    """Write `messages` (default: one initialize; a string goes as it is) to a fresh `bridge
    connect` and close its stdin;
    collect its answers, stderr and exit code (it must exit within `timeout`)."""
    sent = messages if messages is not None else [INITIALIZE]
    lines = [(m if isinstance(m, str) else json.dumps(m)).encode() + b"\n" for m in sent]
    started = time.monotonic()
    done = subprocess.run(connect_argv(url, *options), input=b"".join(lines),
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return Ran(done.returncode, answers, done.stderr.decode(errors="replace"), time.monotonic() - started)


def talk(url: str, *options: str, lines: list[bytes], answers: int, timeout: float = 20.0) -> list[bytes]:
    """Write `lines` to a fresh `bridge connect`, keep stdin open until `answers` lines came back
    (as the bytes they were written as), then close it; it must exit 0."""
    proc = subprocess.Popen(connect_argv(url, *options), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    received: queue.Queue[bytes] = queue.Queue()
    def pump() -> None:
        for line in proc.stdout or ():
            received.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        proc.stdin.write(b"".join(line + b"\n" for line in lines))
        proc.stdin.flush()
        deadline = time.monotonic() + timeout
        got = [received.get(timeout=max(deadline - time.monotonic(), 0.01)).rstrip(b"\n") for _ in range(answers)]
        proc.stdin.close()
        assert proc.wait(timeout=timeout) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return got
