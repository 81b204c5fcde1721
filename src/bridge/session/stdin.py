"""The queue in front of a child's stdin: bounded, first come first served, one reader.

Callers put messages with a deadline and never touch the pipe; the session's one writer task
takes everything queued at once and writes it. A child that stops reading therefore blocks only
that task: callers wait for room until their deadline at most, and closing the queue releases
every one of them at once.

A queue of its own rather than an anyio memory stream: a message handed to the waiting writer
costs a deque append and one event, and the writer takes a whole backlog in one turn (a memory
stream yields to the loop on every receive, and makes one write per message).
"""

from __future__ import annotations

import collections
import time

import anyio


class QueueClosed(Exception):
    """The queue was closed: the session is over."""


class StdinQueue:
    """At most `size` messages waiting for the child's stdin."""

    __slots__ = ("_closed", "_items", "_putters", "_reader", "_size")

    def __init__(self, size: int) -> None:
        self._items: collections.deque[bytes] = collections.deque()
        self._size = size
        self._closed = False
        self._reader: anyio.Event | None = None  # set when the waiting writer task has work
        self._putters: collections.deque[anyio.Event] = collections.deque()  # waiting callers, oldest first

    def put_nowait(self, data: bytes) -> bool:
        """Queue `data` if there is room and nobody waits before it; `QueueClosed` once closed."""
        if self._closed:
            raise QueueClosed
        if self._putters or len(self._items) >= self._size:
            return False
        self._items.append(data)
        if self._reader is not None:
            self._reader.set()
        return True

    async def put(self, data: bytes, deadline: float) -> None:
        """Queue `data`, waiting in turn for room until `deadline` (monotonic): `TimeoutError` then."""
        if self.put_nowait(data):
            return
        turn = anyio.Event()
        self._putters.append(turn)
        try:
            while len(self._items) >= self._size or self._putters[0] is not turn:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    await turn.wait()
                if self._closed:
                    raise QueueClosed
                if turn.is_set():
                    fresh = anyio.Event()
                    self._putters[self._putters.index(turn)] = fresh
                    turn = fresh
        finally:
            first = self._putters[0] is turn
            self._putters.remove(turn)
            if first:
                self._wake_putter()
        self._items.append(data)
        if self._reader is not None:
            self._reader.set()

    def _wake_putter(self) -> None:
        if self._putters and len(self._items) < self._size:
            self._putters[0].set()

    async def take_all(self) -> list[bytes] | None:
        """Everything queued, waiting for something; None once the queue is closed."""
        while not self._items:
            if self._closed:
                return None
            self._reader = anyio.Event()
            await self._reader.wait()
        self._reader = None
        if self._closed:
            return None
        taken = list(self._items)
        self._items.clear()
        self._wake_putter()
        return taken

    def close(self) -> None:
        """No more messages: waiting callers get `QueueClosed`, the writer gets None."""
        self._closed = True
        self._items.clear()
        if self._reader is not None:
            self._reader.set()
        for waiting in self._putters:
            waiting.set()
