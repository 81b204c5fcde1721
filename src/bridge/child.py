"""The child process of a session: spawn it, read its stdout/stderr lines, write stdin, end its group.

The child runs in a process group of its own (a new session, whether started by exec or forked from
the `--fork-server` template), so ending it reaches the grandchildren too: close stdin, then SIGTERM the group, then SIGKILL it, each step after the kill
grace; the leader is always reaped.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from bridge.process import PipedProcess

if TYPE_CHECKING:
    from bridge.fork import ForkServer

log = logging.getLogger("bridge.child")

SMALL_WRITE = 64 * 1024
STDERR_TAIL_LINES = 50
STDERR_LINE_LIMIT = 16 * 1024
STDERR_RATE = 50.0  # lines per second, sustained
STDERR_BURST = 200.0


class LineTooLong(Exception):
    """A stdout line grew beyond the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"child stdout line exceeds {limit} bytes")
        self.limit = limit


class LineSplitter:
    """Splits a byte stream on `\\n`, strips `\\r`, skips blank lines, enforces a line limit.

    A line that spans reads is kept as the list of its pieces and joined once when its newline
    arrives: one copy of a multi-megabyte line, not one per read.
    """

    __slots__ = ("_limit", "_parts", "_size")

    def __init__(self, limit: int) -> None:
        self._parts: list[bytes | memoryview] = []  # the pieces of the unfinished line
        self._size = 0
        self._limit = limit

    def feed(self, chunk: bytes) -> list[bytes]:
        lines: list[bytes] = []
        view = memoryview(chunk)
        start = 0
        nl = chunk.find(b"\n")
        while nl != -1:
            if self._parts:
                self._parts.append(view[start:nl])
                line = b"".join(self._parts)
                self._parts, self._size = [], 0
            else:
                line = chunk[start:nl]
            self._take(line, lines)
            start = nl + 1
            nl = chunk.find(b"\n", start)
        if start < len(chunk):
            self._parts.append(view[start:] if start else chunk)
            self._size += len(chunk) - start
            if self._size > self._limit:
                raise LineTooLong(self._limit)
        return lines

    def _take(self, line: bytes, lines: list[bytes]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self._limit:
            raise LineTooLong(self._limit)
        if line and not line.isspace():
            lines.append(line)


class TokenBucket:
    """Allows `rate` events per second with bursts of `burst`; counts what it refused."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens", "suppressed")

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = time.monotonic()
        self.suppressed = 0

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.suppressed += 1
        return False


class Child:
    """One spawned child: line-oriented I/O and group termination."""

    def __init__(self, process: PipedProcess, argv: Sequence[str], mode: str = "exec") -> None:
        self.process = process
        self.mode = mode  # how it started: `exec`, or `fork` from the --fork-server template
        self.pid = process.pid
        self.argv = list(argv)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.stderr_suppressed = 0  # lines the rate limit kept out of the log

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None, fork: ForkServer | None = None
    ) -> Child:
        """Start `argv`: forked from the template when there is one and it is up, else by exec."""
        process = await fork.spawn(env, cwd) if fork is not None else None
        if process is not None:
            log.info("child forked: pid %d, %s", process.pid, argv[0])
            return cls(process, argv, "fork")
        process = await PipedProcess.start(argv, env, cwd)
        log.info("child started: pid %d, %s", process.pid, argv[0])
        return cls(process, argv)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def write_lines(self, lines: list[bytes]) -> bool:
        """Write messages, each with its newline, whole, with backpressure; False once stdin is gone.

        Only the session's stdin writer task calls this, so writes never interleave.
        """
        stdin = self.process.stdin
        try:
            if len(lines) == 1 and len(lines[0]) < SMALL_WRITE:  # one write (one system call) beats a copy
                await stdin.send(lines[0] + b"\n")
            elif sum(map(len, lines)) < SMALL_WRITE:
                await stdin.send(b"\n".join((*lines, b"")))
            else:
                for data in lines:
                    await stdin.send(data)
                    await stdin.send(b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            log.warning("child stdin broken: %r", exc)
            return False
        return True

    async def read_lines(self, limit: int, on_line: Callable[[bytes], Awaitable[None]]) -> None:
        """Call `on_line` for every non-blank stdout line until EOF; `LineTooLong` past `limit`.

        No line or chunk stays bound while waiting for the next read: this frame ends up in the
        traceback of the cancellation that stops it, and would keep a multi-megabyte line alive
        until the cycle collector ran.
        """
        stdout = self.process.stdout
        splitter = LineSplitter(limit)
        while True:
            try:
                lines = splitter.feed(await stdout.receive())
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            lines.reverse()
            while lines:
                await on_line(lines.pop())

    async def drain_stderr(self, log_lines: bool = True) -> None:
        """Read stderr until EOF (a full pipe would block the child); log it, rate-limited."""
        stderr = self.process.stderr
        bucket = TokenBucket(STDERR_RATE, STDERR_BURST)
        pending = bytearray()
        while True:
            try:
                chunk = await stderr.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                break
            pending += chunk
            *lines, rest = pending.split(b"\n")
            pending = bytearray(rest[-STDERR_LINE_LIMIT:])
            if log_lines:
                for raw in lines:
                    self._stderr_line(raw, bucket)
        if pending and log_lines:
            self._stderr_line(bytes(pending), bucket)
        if bucket.suppressed:
            log.warning("child stderr: %d lines suppressed by the rate limit", bucket.suppressed)
            self.stderr_suppressed += bucket.suppressed

    def _stderr_line(self, raw: bytes | bytearray, bucket: TokenBucket) -> None:
        text = bytes(raw[:STDERR_LINE_LIMIT]).decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return
        self.stderr_tail.append(text)
        if bucket.take():
            if bucket.suppressed:
                log.warning("child stderr: %d lines suppressed by the rate limit", bucket.suppressed)
                self.stderr_suppressed += bucket.suppressed
                bucket.suppressed = 0
            log.info("child stderr: %s", text)

    async def terminate(self, kill_grace: float) -> int:
        """End the child and its group: close stdin → SIGTERM group → SIGKILL group; reap. Exit code."""
        with anyio.CancelScope(shield=True):
            await self.process.stdin.aclose()
            code = await self._wait(kill_grace)
            if code is None:
                log.info("child %d still running after stdin closed: SIGTERM to its group", self.pid)
                self._signal_group(signal.SIGTERM)
                code = await self._wait(kill_grace)
            if code is None:
                log.warning("child %d ignored SIGTERM: SIGKILL to its group", self.pid)
                self._signal_group(signal.SIGKILL)
                code = await self.process.wait()
            await self._end_stragglers(kill_grace)
            await self.process.stdout.aclose()
            await self.process.stderr.aclose()
        assert code is not None
        return code

    async def _wait(self, within: float) -> int | None:
        with anyio.move_on_after(within):
            return await self.process.wait()
        return None

    def _signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    async def _end_stragglers(self, kill_grace: float) -> None:
        """The leader is gone; grandchildren may still hold its group: SIGTERM, then SIGKILL."""
        if not self._signal_group(signal.SIGTERM):
            return
        with anyio.move_on_after(kill_grace):
            # Signal 0 asks whether anyone is left; not our children, so there is nothing to await.
            while self._signal_group(0):  # noqa: ASYNC110
                await anyio.sleep(0.02)
            return
        self._signal_group(signal.SIGKILL)
