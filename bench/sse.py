"""A minimal, correct Server-Sent Events parser (the WHATWG rules the bench needs).

Lines end with CRLF, LF or a lone CR; a blank line dispatches the event; `data:` lines are joined
with LF; one space after the colon is dropped; lines starting with `:` are comments (keep-alives);
`id:` and `retry:` are read and ignored; the event name defaults to `message`. Data stays bytes
so an 8 MiB result is never decoded twice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    event: str
    data: bytes


class SseParser:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer already known to hold no line end
        self._name = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[Event]:
        """Add bytes from the stream; returns the events they completed, in order."""
        self._buffer.extend(chunk)
        events: list[Event] = []
        start = 0
        while True:
            end = self._line_end(start)
            if end is None:
                break
            line = bytes(self._buffer[start:end])
            start = end + (2 if self._buffer[end : end + 2] == b"\r\n" else 1)
            event = self._line(line)
            if event is not None:
                events.append(event)
        del self._buffer[:start]
        self._scanned = len(self._buffer)
        if self._buffer.endswith(b"\r"):
            self._scanned -= 1  # a CR at the very end may be the first half of CRLF
        return events

    def _line_end(self, start: int) -> int | None:
        offset = max(start, self._scanned)
        lf = self._buffer.find(b"\n", offset)
        cr = self._buffer.find(b"\r", offset, lf if lf >= 0 else len(self._buffer))
        if cr >= 0:
            if cr == len(self._buffer) - 1:
                return None  # wait: the next byte decides between CR and CRLF
            return cr
        return lf if lf >= 0 else None

    def _line(self, line: bytes) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._name = value.decode()
        return None

    def _dispatch(self) -> Event | None:
        if not self._data or self._data == [b""]:  # no data: nothing, or a resumable stream's priming event
            self._name = ""
            self._data = []
            return None
        event = Event(self._name or "message", b"\n".join(self._data))
        self._name = ""
        self._data = []
        return event
