"""Where the child's messages go: one HTTP response stream (`Outbox`) or a session's GET channel."""

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

OUTBOX_SIZE = 64


class Destination(Protocol):
    """Somewhere a message of the child can be delivered."""

    @property
    def takes_extras(self) -> bool:
        """Whether the child's messages that belong to a request may go here too (SSE-mode POSTs)."""
        ...

    async def deliver(self, data: bytes, final: bool) -> None: ...

    def close(self) -> None: ...


class Outbox:
    """The messages for one HTTP response; a message for a response that has gone is dropped."""

    __slots__ = ("_send", "receive", "takes_extras")

    def __init__(self, takes_extras: bool, size: int = OUTBOX_SIZE) -> None:
        send: MemoryObjectSendStream[Item]
        receive: MemoryObjectReceiveStream[Item]
        send, receive = anyio.create_memory_object_stream[Item](size)
        self._send = send
        self.receive = receive
        self.takes_extras = takes_extras

    async def offer(self, data: bytes, final: bool) -> bool:
        """Deliver, waiting for room (backpressure); False when the response has gone."""
        try:
            await self._send.send((data, final))
            return True
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False

    async def deliver(self, data: bytes, final: bool) -> None:
        if not await self.offer(data, final):
            log.debug("message for a closed HTTP stream dropped (%d bytes)", len(data))

    def try_deliver(self, data: bytes, final: bool) -> bool:
        """Deliver without waiting; False when the stream is gone or full."""
        try:
            self._send.send_nowait((data, final))
            return True
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.WouldBlock):
            return False

    def close(self) -> None:
        self._send.close()


class GetChannel:
    """A Streamable HTTP session's single GET stream, or a bounded buffer while none is open.

    Overflow policy: the oldest buffered message is dropped (logged, counted).
    """

    takes_extras = True

    def __init__(self, size: int) -> None:
        self._outbox: Outbox | None = None
        self._buffer: collections.deque[bytes] = collections.deque()
        self._size = size
        self._closed = False
        self.dropped = 0

    def attach(self) -> tuple[Outbox, list[bytes]] | None:
        """Open the GET stream: its outbox and what was buffered; None when one is already open."""
        if self._outbox is not None or self._closed:
            return None
        self._outbox = Outbox(takes_extras=True)
        held = list(self._buffer)
        self._buffer.clear()
        return self._outbox, held

    def detach(self, outbox: Outbox) -> None:
        if self._outbox is outbox:
            self._outbox = None
        outbox.close()

    async def deliver(self, data: bytes, final: bool) -> None:
        outbox = self._outbox
        if outbox is not None:
            if await outbox.offer(data, final):
                return
            self.detach(outbox)
        if len(self._buffer) >= self._size:
            self._buffer.popleft()
            self.dropped += 1
            log.warning("no GET stream open: oldest held message dropped (%d dropped so far)", self.dropped)
        self._buffer.append(data)

    def close(self) -> None:
        self._closed = True
        if self._outbox is not None:
            self._outbox.close()
        self._buffer.clear()
