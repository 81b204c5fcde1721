"""A server-sent events parser over a byte stream, with no limit on an event's size.

It follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; `data` lines join with LF;
`id` sets the last event id once its event is complete (kept across events and reconnections,
for `Last-Event-ID`: an event cut off never counts as received);
`retry` sets the reconnection delay; a blank line dispatches; comments and unknown fields are
ignored; an event cut off by the end of the stream is dropped. The buffer is scanned once, so an
event of many megabytes costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from typing import Final

_EOL: Final = re.compile(rb"\r\n|\r|\n")
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    data: bytes
    id: str | None
    """The last event id once this event was read (None until the server gave one)."""


class Parser:
    """Feed it chunks; it returns the events they complete. `last_id` and `retry_ms` outlive a
    connection, so one parser can follow a stream across resumes (call `restart` in between)."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self._id: str | None = None  # the id buffer: becomes `last_id` when its event completes
        self.restart()

    def restart(self) -> None:
        """A new connection: forget its partial line and event, keep the last id and retry."""
        self._buf = bytearray()
        self._scan = 0
        self._first = True
        self._data: list[bytes] = []
        self._type = ""
        self._id = self.last_id

    def feed(self, chunk: bytes) -> list[Event]:
        buf = self._buf
        buf += chunk
        if self._first:
            if len(buf) < len(_BOM) and _BOM.startswith(bytes(buf)):
                return []
            if buf.startswith(_BOM):
                del buf[: len(_BOM)]
            self._first = False
        out: list[Event] = []
        start = 0
        pos = self._scan
        while (match := _EOL.search(buf, pos)) is not None:
            end = match.end()
            if match.group() == b"\r" and end == len(buf):
                break  # a CR at the end may be the first half of CRLF: wait for the next byte
            event = self._line(bytes(buf[start : match.start()]))
            if event is not None:
                out.append(event)
            start = pos = end
        if start:
            del buf[:start]
            pos -= start
        self._scan = max(pos, len(buf) - 1 if buf.endswith(b"\r") else len(buf))
        return out

    def _line(self, line: bytes) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return None
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._type = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, kind = self._data, self._type
        self._data, self._type = [], ""
        self.last_id = self._id
        if not data:
            return None
        return Event(kind or "message", data[0] if len(data) == 1 else b"\n".join(data), self.last_id)


async def events(chunks: AsyncIterable[bytes], parser: Parser | None = None) -> AsyncGenerator[Event, None]:
    """The events of one connection's body."""
    parser = parser or Parser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
