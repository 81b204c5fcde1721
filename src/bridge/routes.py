"""Where the child's messages go: one HTTP response stream, or a session's GET channel.

- `Outbox`: the queue of one HTTP response, read by the transport's writer.
- `PostStream`: a Streamable HTTP request POST's stream. With resume on it records every message
  in the session's `EventLog` and outlives its HTTP response: when the connection drops, messages
  stay in the log until the client resumes with `Last-Event-ID` (or the session ends).
- `GetChannel`: a Streamable HTTP session's single GET stream, or a bounded buffer while none is open.

Every queue is bounded. A reader that stops reading (its queue full for `stall` seconds) is
disconnected: its HTTP response is ended, what it had not taken is dropped (counted; with resume
on it stays in the log for a reconnect), and the session goes on. So a stalled client costs at
most `size` messages of memory and `stall` seconds of the child's time, and never blocks another
session.
"""

from __future__ import annotations

import collections
import logging
from typing import Protocol

import anyio

from bridge.replay import GET_STREAM, Event, EventLog

log = logging.getLogger("bridge.routes")

# (message bytes, final, seq): `final` marks the answer that completes a request; b"" with
# final=True completes a request that gets no answer (the client cancelled it). `seq` is the
# event's number in the session's event log (0: not logged; no event id).
Item = tuple[bytes, bool, int]

# Why a message was not delivered (the label of `bridge_messages_dropped`); None: delivered.
# `reader_stalled` is also counted when, with --resume, the message stays replayable in the log.
Dropped = str | None
STREAM_GONE = "stream_closed"
STALLED = "reader_stalled"
BUFFER_FULL = "get_buffer_full"


class Destination(Protocol):
    """Somewhere a message of the child can be delivered."""

    @property
    def takes_extras(self) -> bool:
        """Whether the child's messages that belong to a request may go here too (SSE-mode POSTs)."""
        ...

    async def deliver(self, data: bytes, final: bool) -> Dropped: ...

    def close(self) -> None: ...


class Outbox:
    """The messages for one HTTP response, in order, at most `size` waiting; a message for a
    response that has gone is dropped. `stream` is the event-id prefix of its events (None: no ids).

    A queue of its own rather than an anyio memory stream: both ends are in one task group's
    world, and on this per-message path a hand-off should cost a deque append and, only when the
    reader is waiting, one event (a memory stream yields to the loop on every send and receive).
    """

    __slots__ = ("_closed", "_items", "_readable", "_size", "_stall", "_writable", "reader", "stream",
                 "takes_extras")

    def __init__(self, takes_extras: bool, size: int = 64, stall: float = 30.0, stream: int | None = None) -> None:
        self._items: collections.deque[Item] = collections.deque()
        self._size = size
        self._stall = stall
        self._closed = False
        self._readable: anyio.Event | None = None  # set when the waiting reader has something
        self._writable: anyio.Event | None = None  # set when a waiting writer has room
        self.takes_extras = takes_extras
        self.stream = stream
        self.reader: anyio.CancelScope | None = None  # the HTTP writer's scope, ended on a stall

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        """The response is over: later messages count as for a closed stream."""
        self.close()

    async def deliver(self, data: bytes, final: bool, seq: int = 0) -> Dropped:
        """Queue for the response, waiting for room up to the stall limit (backpressure)."""
        if self._closed:
            return STREAM_GONE
        if len(self._items) >= self._size:
            try:
                with anyio.fail_after(self._stall):
                    while len(self._items) >= self._size and not self._closed:
                        self._writable = anyio.Event()
                        await self._writable.wait()
            except TimeoutError:
                log.warning("HTTP stream reader stalled for %gs: disconnecting it", self._stall)
                self.abort()
                return STALLED
            if self._closed:
                return STREAM_GONE
        self._items.append((data, final, seq))
        if self._readable is not None:
            self._readable.set()
        return None

    async def get(self) -> Item | None:
        """The next message, waiting for one; None once the outbox is closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._readable = anyio.Event()
            await self._readable.wait()
        self._readable = None
        item = self._items.popleft()
        if self._writable is not None:
            self._writable.set()
        return item

    def abort(self) -> None:
        """End the response: no more messages, and its writer stops."""
        self._items.clear()
        self.close()
        if self.reader is not None:
            self.reader.cancel()

    def close(self) -> None:
        self._closed = True
        for waiting in (self._readable, self._writable):
            if waiting is not None:
                waiting.set()


class PostStream:
    """A request POST's stream; with an event log, resumable after its HTTP response is gone."""

    __slots__ = ("_log", "_open", "key", "outbox", "remaining", "takes_extras")

    def __init__(self, outbox: Outbox, log: EventLog | None, finals: int, open_streams: dict[int, PostStream]) -> None:
        self.outbox: Outbox | None = outbox
        self._log = log
        self._open = open_streams  # the session's unfinished streams, by key: a resume looks here
        self.key = outbox.stream if outbox.stream is not None else -1
        self.remaining = finals  # answers still to come
        self.takes_extras = outbox.takes_extras
        if log is not None:
            open_streams[self.key] = self

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        if final:
            self.remaining -= 1
            if self.remaining <= 0:
                self._open.pop(self.key, None)
        if self._log is None:
            return await self.outbox.deliver(data, final) if self.outbox is not None else STREAM_GONE
        seq = self._log.record(self.key, data, final)
        outbox = self.outbox
        if outbox is None:
            return None
        dropped = await outbox.deliver(data, final, seq)
        if dropped is not None:
            self.outbox = None  # the reader has gone; the message waits in the log for a resume
        return STALLED if dropped == STALLED else None  # a stall is counted even so

    def resume(self, after: int, outbox: Outbox) -> tuple[list[Event], bool]:
        """Attach a reconnected reader: the logged events after `after` (and whether some are lost)."""
        assert self._log is not None
        if self.outbox is not None:
            self.outbox.abort()
        self.outbox = outbox
        return self._log.after(self.key, after)

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()


class GetChannel:
    """A Streamable HTTP session's single GET stream, or a bounded buffer while none is open.

    Overflow policy: the oldest buffered message is dropped (logged, counted). With an event log,
    every message is also logged, so a GET that resumes gets what it missed from the log.
    """

    takes_extras = True

    def __init__(self, buffer: int, size: int = 64, stall: float = 30.0, log: EventLog | None = None) -> None:
        self._outbox: Outbox | None = None
        self._buffer: collections.deque[tuple[bytes, int]] = collections.deque()
        self._limit = buffer
        self._size = size
        self._stall = stall
        self._log = log
        self._closed = False
        self.dropped = 0

    @property
    def open(self) -> bool:
        return self._outbox is not None

    def attach(self, after: int | None = None) -> tuple[Outbox, list[Event], bool] | None:
        """Open the GET stream: its outbox, what it missed and whether some of that was lost; None
        when one is already open. `after`: the seq of a `Last-Event-ID` to resume from."""
        if self._outbox is not None or self._closed:
            return None
        self._outbox = Outbox(True, self._size, self._stall, GET_STREAM if self._log is not None else None)
        if after is not None and self._log is not None:
            self._buffer.clear()
            missed, gap = self._log.after(GET_STREAM, after)
            return self._outbox, missed, gap
        held = [(GET_STREAM, seq, data, False) for data, seq in self._buffer]
        self._buffer.clear()
        return self._outbox, held, False

    def detach(self, outbox: Outbox) -> None:
        if self._outbox is outbox:
            self._outbox = None
        outbox.close()

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        seq = self._log.record(GET_STREAM, data, final) if self._log is not None else 0
        outbox = self._outbox
        if outbox is not None:
            dropped = await outbox.deliver(data, final, seq)
            if dropped != STREAM_GONE:
                return dropped
            self.detach(outbox)
        self._buffer.append((data, seq))
        if len(self._buffer) > self._limit:
            self._buffer.popleft()
            self.dropped += 1
            log.warning("no GET stream open: oldest held message dropped (%d dropped so far)", self.dropped)
            return BUFFER_FULL
        return None

    def close(self) -> None:
        self._closed = True
        if self._outbox is not None:
            self._outbox.close()
        self._buffer.clear()
