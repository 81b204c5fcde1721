"""The local side: newline-delimited JSON-RPC on stdin and stdout, of any line length.

Each direction has its own daemon thread doing the blocking reads or writes on the raw file
descriptor, handing lines to and from the event loop through bounded memory streams (so a client
that stops reading slows the remote down rather than filling memory). Daemon threads never hold up
the exit: a read blocked on a stdin that stays open, or a write to a client that stopped reading,
is simply abandoned. They use `os.read` / `os.write`, not Python's buffered files, whose locks a
thread abandoned at exit would still hold.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable, Iterator

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

QUEUE = 64  # lines waiting in each direction
CHUNK = 256 * 1024


def split_lines(read: Callable[[], bytes]) -> Iterator[bytes]:
    """The lines of a byte source (`read` gives b"" at its end), without their CR/LF; blank lines
    skipped. Each byte is scanned once, however long a line."""
    buf = bytearray()
    scanned = 0
    while chunk := read():
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", scanned)) >= 0:
            line = bytes(buf[start:end]).rstrip(b"\r")
            if line.strip():
                yield line
            start = scanned = end + 1
        del buf[:start]
        scanned = len(buf)
    if bytes(buf).strip():
        yield bytes(buf).rstrip(b"\r")


class StdinLines:
    """The client's messages, one line each; iterate it in the event loop."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._send: MemoryObjectSendStream[bytes]
        self._receive: MemoryObjectReceiveStream[bytes]
        self._send, self._receive = anyio.create_memory_object_stream[bytes](QUEUE)

    def start(self) -> None:
        token = anyio.lowlevel.current_token()
        threading.Thread(target=self._read, args=(token,), name="connect-stdin", daemon=True).start()

    def _read(self, token: anyio.lowlevel.EventLoopToken) -> None:
        try:
            for line in split_lines(self._chunk):
                anyio.from_thread.run(self._send.send, line, token=token)
        except Exception:  # the loop has finished, or stdin broke: nothing more to hand over
            pass
        finally:
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(self._send.close, token=token)

    def _chunk(self) -> bytes:
        while True:
            try:
                return os.read(self._fd, CHUNK)
            except BlockingIOError:  # a parent that left the pipe non-blocking
                select.select([self._fd], [], [])

    def __aiter__(self) -> MemoryObjectReceiveStream[bytes]:
        return self._receive


class StdoutLines:
    """Messages to the client, one line each; `on_broken` runs (in the loop) if the client is gone."""

    def __init__(self, fd: int, on_broken: Callable[[], None]) -> None:
        self._fd = fd
        self._on_broken = on_broken
        self._send: MemoryObjectSendStream[bytes]
        self._receive: MemoryObjectReceiveStream[bytes]
        self._send, self._receive = anyio.create_memory_object_stream[bytes](QUEUE)
        self._done = anyio.Event()

    def start(self) -> None:
        token = anyio.lowlevel.current_token()
        threading.Thread(target=self._write, args=(token,), name="connect-stdout", daemon=True).start()

    async def write(self, line: bytes) -> None:
        """Queue one message (it must hold no newline); dropped once the client is gone."""
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._send.send(line)

    async def close(self, grace: float) -> None:
        """Write what is queued (for up to `grace` seconds), then stop."""
        self._send.close()
        with anyio.move_on_after(grace):
            await self._done.wait()

    def _write(self, token: anyio.lowlevel.EventLoopToken) -> None:
        broken = False
        try:
            while True:
                try:
                    line = anyio.from_thread.run(self._receive.receive, token=token)
                except anyio.EndOfStream:
                    break
                self._write_all(memoryview(line + b"\n"))
        except OSError:  # a broken pipe, or stdout closed under us
            broken = True
        except Exception:  # the loop has finished
            return
        with contextlib.suppress(Exception):
            if broken:
                anyio.from_thread.run_sync(self._on_broken, token=token)
            anyio.from_thread.run_sync(self._done.set, token=token)

    def _write_all(self, data: memoryview) -> None:
        while data:
            try:
                data = data[os.write(self._fd, data):]
            except BlockingIOError:  # a parent that left the pipe non-blocking
                select.select([], [self._fd], [])
