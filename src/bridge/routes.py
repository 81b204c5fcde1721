"""Where the child's messages go: one HTTP response stream (`Outbox`) or a session's GET channel.

Every queue is bounded. A reader that stops reading (its queue full for `stall` seconds) is
disconnected: its HTTP response is ended, what it had not taken is dropped (counted), and the
session goes on. So a stalled client costs at most `size` messages of memory and `stall` seconds
of the child's time, and never blocks another session.
"""

from __future__ import annotations

import collections
import logging
from typing import Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

log = logging.getLogger("bridge.routes")

# (message bytes, final): `final` marks the answer that completes a request; b"" with final=True
# completes a request that gets no answer (the client cancelled it).
Item = tuple[bytes, bool]

# Why a message was not delivered (the label of `bridge_messages_dropped`); None: delivered.
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
    """The messages for one HTTP response; a message for a response that has gone is dropped."""

    __slots__ = ("_send", "_stall", "reader", "receive", "takes_extras")

    def __init__(self, takes_extras: bool, size: int = 64, stall: float = 30.0) -> None:
        send: MemoryObjectSendStream[Item]
        receive: MemoryObjectReceiveStream[Item]
        send, receive = anyio.create_memory_object_stream[Item](size)
        self._send = send
        self._stall = stall
        self.receive = receive
        self.takes_extras = takes_extras
        self.reader: anyio.CancelScope | None = None  # the HTTP writer's scope, ended on a stall

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        """Queue for the response, waiting for room up to the stall limit (backpressure)."""
        try:
            self._send.send_nowait((data, final))
            return None
        except anyio.WouldBlock:
            pass
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return STREAM_GONE
        try:
            with anyio.fail_after(self._stall):
                await self._send.send((data, final))
            return None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return STREAM_GONE
        except TimeoutError:
            log.warning("HTTP stream reader stalled for %gs: disconnecting it", self._stall)
            self.abort()
            return STALLED

    def abort(self) -> None:
        """End the response: no more messages, and its writer stops."""
        self._send.close()
        if self.reader is not None:
            self.reader.cancel()

    def close(self) -> None:
        self._send.close()


class GetChannel:
    """A Streamable HTTP session's single GET stream, or a bounded buffer while none is open.

    Overflow policy: the oldest buffered message is dropped (logged, counted).
    """

    takes_extras = True

    def __init__(self, buffer: int, size: int = 64, stall: float = 30.0) -> None:
        self._outbox: Outbox | None = None
        self._buffer: collections.deque[bytes] = collections.deque()
        self._limit = buffer
        self._size = size
        self._stall = stall
        self._closed = False
        self.dropped = 0

    def attach(self) -> tuple[Outbox, list[bytes]] | None:
        """Open the GET stream: its outbox and what was buffered; None when one is already open."""
        if self._outbox is not None or self._closed:
            return None
        self._outbox = Outbox(True, self._size, self._stall)
        held = list(self._buffer)
        self._buffer.clear()
        return self._outbox, held

    def detach(self, outbox: Outbox) -> None:
        if self._outbox is outbox:
            self._outbox = None
        outbox.close()

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        outbox = self._outbox
        if outbox is not None:
            dropped = await outbox.deliver(data, final)
            if dropped != STREAM_GONE:
                return dropped
            self.detach(outbox)
        self._buffer.append(data)
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
