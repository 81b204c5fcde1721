"""Where the child's messages wait for an HTTP stream to carry them.

- `Outbox`: the queue of one HTTP response, read by the transport's writer.
- `PostStream`: a Streamable HTTP request POST's stream. With resume on it records every message
  in the session's `EventLog` and outlives its HTTP response: when the connection drops, messages
  stay in the log until the client resumes with `Last-Event-ID` (or the session ends).
- `GetChannel`: a Streamable HTTP session's single GET stream, or a bounded buffer while none is open.
- `StreamableStreams`: a Streamable HTTP session's GET channel, its event log and its unfinished
  POST streams: the session's default destination, closed as one.

Backpressure policy. Every queue is bounded. A writer that finds its outbox full waits, in
arrival order, for the reader to take something. A reader that takes nothing for `stall` seconds
while its queue is full is stalled: its HTTP response is ended, what it had not taken is dropped
(counted; with resume on it stays in the log for a reconnect), and the session goes on. A reader
that keeps taking, however slowly, is never disconnected, however many writers wait. So a
stalled client costs at most `size` messages of memory and `stall` seconds of the child's time,
and never blocks another session.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Protocol

import anyio

from bridge.replay import GET_STREAM, Event, EventLog

log = logging.getLogger("bridge.streams")

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
        """Whether the child's messages that belong to a request may go here too (SSE streams)."""
        ...

    async def deliver(self, data: bytes, final: bool) -> Dropped: ...

    async def cancelled(self, answer: bytes) -> Dropped:
        """The client cancelled a request whose answer was to come here; `answer` is an error
        answer for it, for a response that must answer the request with something."""
        ...

    def close(self) -> None: ...


class Outbox:
    """The messages for one HTTP response, in order, at most `size` waiting; a message for a
    response that has gone is dropped. `stream` is the event-id prefix of its events (None: no ids).

    A queue of its own rather than an anyio memory stream: on this per-message path a hand-off
    costs a deque append and, only when the reader waits, one event (a memory stream yields to
    the loop on every send and receive). Writers that wait for room queue up first come, first
    served, each on an event of its own, so no wake-up is lost however many wait.
    """

    __slots__ = ("_closed", "_items", "_progress", "_readable", "_size", "_stall", "_writers", "reader",
                 "stream", "takes_extras", "timed_out")

    def __init__(self, takes_extras: bool, size: int = 64, stall: float = 30.0, stream: int | None = None) -> None:
        self._items: collections.deque[Item] = collections.deque()
        self._size = size
        self._stall = stall
        self._closed = False
        self._readable: anyio.Event | None = None  # set when the waiting reader has something
        self._writers: collections.deque[anyio.Event] = collections.deque()  # waiting writers, oldest first
        self._progress = 0.0  # when the reader last took something, or the queue filled up
        self.takes_extras = takes_extras
        self.stream = stream
        self.reader: anyio.CancelScope | None = None  # the HTTP writer's scope, ended on a stall
        self.timed_out = False  # the last `get` gave up waiting

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        """The response is over: later messages count as for a closed stream."""
        self.close()

    async def deliver(self, data: bytes, final: bool, seq: int = 0) -> Dropped:
        """Queue for the response, waiting for room while the reader makes progress (backpressure)."""
        if self._closed:
            return STREAM_GONE
        if len(self._items) >= self._size or self._writers:
            dropped = await self._wait_for_room()
            if dropped is not None:
                return dropped
        self._items.append((data, final, seq))
        if self._readable is not None:
            self._readable.set()
        return None

    async def _wait_for_room(self) -> Dropped:
        if not self._writers:
            self._progress = time.monotonic()  # the queue just filled up: the stall clock starts
        turn = anyio.Event()
        self._writers.append(turn)
        try:
            while True:
                if self._closed:
                    return STREAM_GONE
                if len(self._items) < self._size and self._writers[0] is turn:
                    return None
                left = self._progress + self._stall - time.monotonic()
                if left <= 0:
                    log.warning("HTTP stream reader stalled for %gs: disconnecting it", self._stall)
                    self.abort()
                    return STALLED
                with anyio.move_on_after(left):
                    await turn.wait()
                if turn.is_set():
                    turn = self._replace_turn(turn)
        finally:
            self._leave(turn)

    def _replace_turn(self, turn: anyio.Event) -> anyio.Event:
        """A fresh event for a writer that was woken but must wait on (an event cannot be reset)."""
        fresh = anyio.Event()
        for index, waiting in enumerate(self._writers):
            if waiting is turn:
                self._writers[index] = fresh
                break
        return fresh

    def _leave(self, turn: anyio.Event) -> None:
        """A writer stops waiting (it has room, gave up or was cancelled); the next one may go."""
        was_first = bool(self._writers) and self._writers[0] is turn
        try:
            self._writers.remove(turn)
        except ValueError:
            return
        if was_first:
            self._wake_writer()

    def _wake_writer(self) -> None:
        if self._writers and len(self._items) < self._size:
            self._writers[0].set()

    async def get(self, within: float | None = None) -> Item | None:
        """The next message, waiting for one; None once the outbox is closed and empty, or when
        nothing came `within` seconds (then `timed_out` says so).

        The wait is bounded by a loop timer rather than a cancel scope: on this per-message path
        a timer handle costs a fraction of what entering and leaving a scope does.
        """
        self.timed_out = False
        while not self._items:
            if self._closed:
                return None
            readable = self._readable = anyio.Event()
            if within is None:
                await readable.wait()
                continue
            timer = asyncio.get_running_loop().call_later(within, readable.set)
            try:
                await readable.wait()
            finally:
                timer.cancel()
            if not self._items and not self._closed:
                self.timed_out = True
                self._readable = None
                return None
        self._readable = None
        item = self._items.popleft()
        if self._writers:
            self._progress = time.monotonic()
            self._writers[0].set()
        return item

    async def cancelled(self, answer: bytes) -> Dropped:
        """An open-ended stream (legacy SSE, GET) carries no answer for a cancelled request."""
        return None

    def abort(self) -> None:
        """End the response: no more messages, and its writer stops."""
        self._items.clear()
        self.close()
        if self.reader is not None:
            self.reader.cancel()

    def close(self) -> None:
        self._closed = True
        if self._readable is not None:
            self._readable.set()
        for waiting in self._writers:
            waiting.set()


class PostStream:
    """A request POST's stream; with an event log, resumable after its HTTP response is gone.

    `answers_cancels`: a JSON response must answer its request with something, so a cancelled
    request's error answer is its answer; an SSE stream just ends without one.
    """

    __slots__ = ("_answers_cancels", "_log", "_open", "key", "outbox", "remaining", "takes_extras")

    def __init__(self, outbox: Outbox, log: EventLog | None, finals: int, open_streams: dict[int, PostStream],
                 answers_cancels: bool = False) -> None:
        self.outbox: Outbox | None = outbox
        self._log = log
        self._open = open_streams  # the session's unfinished streams, by key: a resume looks here
        self._answers_cancels = answers_cancels
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
        seq = self._log.record(self.key, data, final) if data else 0
        outbox = self.outbox
        if outbox is None:
            return None
        dropped = await outbox.deliver(data, final, seq)
        if dropped is not None:
            self.outbox = None  # the reader has gone; the message waits in the log for a resume
        return STALLED if dropped == STALLED else None  # a stall is counted even so

    async def cancelled(self, answer: bytes) -> Dropped:
        return await self.deliver(answer if self._answers_cancels else b"", True)

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

    async def cancelled(self, answer: bytes) -> Dropped:
        return None

    def close(self) -> None:
        self._closed = True
        if self._outbox is not None:
            self._outbox.close()
        self._buffer.clear()


class StreamableStreams:
    """A Streamable HTTP session's streams: the GET channel (its default destination), the event
    log when streams are resumable, and the request streams not yet finished (for resumes)."""

    takes_extras = True

    def __init__(self, get_buffer: int, size: int, stall: float, log: EventLog | None) -> None:
        self.log = log
        self.get = GetChannel(get_buffer, size, stall, log)
        self.unfinished: dict[int, PostStream] = {}

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        return await self.get.deliver(data, final)

    async def cancelled(self, answer: bytes) -> Dropped:
        return None

    def close(self) -> None:
        self.get.close()
        for stream in list(self.unfinished.values()):
            stream.close()
        self.unfinished.clear()
        if self.log is not None:
            self.log.clear()  # the session is over: its events go now, not at a cycle collection
