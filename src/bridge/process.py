"""Spawning a child without the event loop's fork, and its pipes as plain non-blocking descriptors.

Why not `anyio.open_process`: under uvloop it forks through libuv, which copies the bridge's page
tables and costs ~1.4 ms more per session than CPython's `subprocess` (vfork), measured on this
machine. So the child is started by `subprocess.Popen` on pipes we own; the pipes then get the
event loop's own pipe transports (the bridge always runs on asyncio, uvloop where installed, see
`cli`), the same ones `open_process` would have used; and the exit is awaited on a pidfd, so
nothing else ever reaps the child.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import anyio
import anyio.lowlevel

EXIT_POLL = 0.02  # seconds between exit checks where the kernel has no pidfd
READ_LIMIT = 64 * 1024


class _ReadProtocol(asyncio.Protocol):
    """Keeps the chunks the loop read, as the loop made them (no copy); pauses reading past a limit."""

    def __init__(self) -> None:
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.eof = False
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.ReadTransport, transport)  # uvloop's are not its subclasses

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > READ_LIMIT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class PipeReader:
    """The parent's end of a child's stdout or stderr: the loop's own pipe transport, kept registered.

    Reading pauses while more than `READ_LIMIT` bytes wait unread, so a child cannot outrun its
    session's consumer.
    """

    def __init__(self, transport: asyncio.ReadTransport, protocol: _ReadProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    @classmethod
    async def connect(cls, fd: int) -> PipeReader:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_read_pipe(_ReadProtocol, os.fdopen(fd, "rb", buffering=0))
        return cls(transport, protocol)

    async def receive(self) -> bytes:
        """The next chunk read; `anyio.EndOfStream` at EOF, `ClosedResourceError` once closed.

        A chunk that was already waiting still yields once to the loop, so a child that floods its
        pipe cannot starve the other tasks.
        """
        protocol = self._protocol
        waited = False
        while not protocol.chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.eof:
                raise anyio.EndOfStream
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await protocol.waiter
            finally:
                protocol.waiter = None
            waited = True
        if self._closed:
            raise anyio.ClosedResourceError
        data = protocol.chunks.popleft()
        protocol.size -= len(data)
        if protocol.paused and protocol.size <= READ_LIMIT // 2:
            protocol.paused = False
            self._transport.resume_reading()
        if not waited:
            await anyio.lowlevel.cancel_shielded_checkpoint()  # never loses the chunk just taken
        return data

    async def aclose(self) -> None:
        self._closed = True
        self._transport.close()
        self._protocol._wake()  # a task still reading gets ClosedResourceError
        await anyio.lowlevel.checkpoint()


class _WriteProtocol(asyncio.Protocol):
    """Flow control for a write pipe: `drain` waits while the transport's buffer is over its limit.

    Nothing to wait for is the common case and costs no loop turn (an anyio event that is already
    set would still yield once).
    """

    def __init__(self) -> None:
        self._resumed: anyio.Event | None = None  # set while paused
        self.lost = False

    def pause_writing(self) -> None:
        self._resumed = anyio.Event()

    def resume_writing(self) -> None:
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()

    def _wake(self) -> None:
        resumed, self._resumed = self._resumed, None
        if resumed is not None:
            resumed.set()

    async def drain(self) -> None:
        if self._resumed is not None:
            await self._resumed.wait()


class PipeWriter:
    """The parent's end of a child's stdin: a write goes out at once, its rest buffered by the loop."""

    def __init__(self, transport: asyncio.WriteTransport, protocol: _WriteProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    @classmethod
    async def connect(cls, fd: int) -> PipeWriter:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(_WriteProtocol, os.fdopen(fd, "wb", buffering=0))
        return cls(transport, protocol)

    async def send(self, data: bytes) -> None:
        """Write `data`, waiting while the pipe is full; `BrokenResourceError` once the reader left."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise anyio.ClosedResourceError
        if self._protocol.lost or self._transport.is_closing():
            raise anyio.BrokenResourceError
        self._transport.write(data)
        await self._protocol.drain()
        if self._protocol.lost:
            raise anyio.BrokenResourceError

    async def aclose(self) -> None:
        """Close the pipe; what a child that stopped reading never took is discarded, so its end of
        the pipe sees EOF now rather than never."""
        self._closed = True
        if self._transport.get_write_buffer_size():
            self._transport.abort()
        else:
            self._transport.close()
        await anyio.lowlevel.checkpoint()


class Exit:
    """A child's exit, awaited on a pidfd (no watcher thread, no SIGCHLD handler), reaped once.

    Only this bridge's own children can be reaped: those it started, and with `--fork-server` those
    a template forked, which become the bridge's children when their first parent exits (see
    `become_subreaper`). Every pid being waited for is in `OURS`, so the sweep for other orphans
    never reaps one of them.
    """

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self._popen = popen  # kept so its finaliser never reaps the child behind our back
        self.returncode: int | None = None
        self._lock = anyio.Lock()
        self._pidfd: int | None = None
        OURS.add(pid)
        with contextlib.suppress(OSError, AttributeError):  # no pidfd before Linux 5.3: poll instead
            self._pidfd = os.pidfd_open(pid)

    async def wait(self) -> int:
        """The exit code (negative: the signal that ended it), once the child has exited and is reaped."""
        async with self._lock:  # one task waits on the pidfd; the others find the code set
            while self.returncode is None:
                if self._pidfd is not None:
                    await anyio.wait_readable(self._pidfd)
                else:
                    await anyio.sleep(EXIT_POLL)
                self._reap()
        return self.returncode

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (only `subprocess` could): take its code
            popen = self._popen
            code = popen.returncode if popen is not None and popen.returncode is not None else -1
        else:
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
        self.returncode = code
        if self._popen is not None:
            self._popen.returncode = code
        OURS.discard(self.pid)
        if self._pidfd is not None:
            anyio.notify_closing(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


OURS: set[int] = set()  # the pids of children an `Exit` waits for


class PipedProcess:
    """A started OS process: its pid, the parent's ends of its three pipes, and its `Exit`.
    `bridge.child.Child` gives it line framing."""

    def __init__(self, exit: Exit, stdin: PipeWriter, stdout: PipeReader, stderr: PipeReader) -> None:
        self.exit = exit
        self.pid = exit.pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr

    @property
    def returncode(self) -> int | None:
        return self.exit.returncode

    async def wait(self) -> int:
        return await self.exit.wait()

    @classmethod
    async def start(cls, argv: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None) -> PipedProcess:
        """Start `argv` in a new session (its own process group); `OSError` when it cannot run."""
        popen, stdin, stdout, stderr = _popen(argv, env, cwd)
        try:
            pipes = await connect_pipes(stdin, stdout, stderr)
        except BaseException:
            popen.kill()
            popen.wait()  # just killed: it cannot take long
            raise
        return cls(Exit(popen.pid, popen), *pipes)


async def connect_pipes(stdin: int, stdout: int, stderr: int) -> tuple[PipeWriter, PipeReader, PipeReader]:
    """The loop's transports on the parent's ends of a child's three pipes (they own the fds now)."""
    return await PipeWriter.connect(stdin), await PipeReader.connect(stdout), await PipeReader.connect(stderr)


def child_pipes() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Three new pipes: the child's ends (stdin read, stdout write, stderr write) and the parent's
    (stdin write, stdout read, stderr read). All close-on-exec; the caller closes them on failure."""
    ends: list[int] = []
    try:
        for _ in range(3):
            ends.extend(os.pipe())
    except BaseException:
        for fd in ends:
            os.close(fd)
        raise
    stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w = ends
    return (stdin_r, stdout_w, stderr_w), (stdin_w, stdout_r, stderr_r)


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the parent of its descendants' orphans (Linux `PR_SET_CHILD_SUBREAPER`);
    False where the kernel or libc cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans() -> int:
    """Reap the exited children no `Exit` waits for (orphans of our descendants, re-parented here
    because this process is a subreaper); how many. Running ones are left alone."""
    reaped = 0
    for pid in _children() - OURS:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:
                reaped += 1
    return reaped


def _children() -> set[int]:
    pids: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
                pids.update(int(pid) for pid in f.read().split())
    return pids


def _popen(
    argv: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None
) -> tuple[subprocess.Popen[bytes], int, int, int]:
    """The started child and the parent's ends of its stdin, stdout and stderr pipes.

    Blocks the loop only until the child has exec'd (vfork: a fraction of a millisecond).
    """
    (stdin_r, stdout_w, stderr_w), (stdin_w, stdout_r, stderr_r) = child_pipes()
    try:
        popen = subprocess.Popen(
            list(argv), stdin=stdin_r, stdout=stdout_w, stderr=stderr_w,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
        )
    except BaseException:
        for fd in (stdin_r, stdout_w, stderr_w, stdin_w, stdout_r, stderr_r):
            os.close(fd)
        raise
    for fd in (stdin_r, stdout_w, stderr_w):
        os.close(fd)
    return popen, stdin_w, stdout_r, stderr_r
