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
        self._partial: list[bytes] = []  # the pieces of an unfinished line
        self._after_cr = False  # the last feed ended on CR: a LF that starts the next one is its pair
        self._name = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[Event]:
        """Add bytes from the stream; returns the events they completed, in order.

        A line that spans feeds is kept as its pieces and joined once, so a multi-megabyte `data:`
        line costs one copy, not one per feed.
        """
        events: list[Event] = []
        if not chunk:
            return events
        start = 1 if self._after_cr and chunk.startswith(b"\n") else 0
        self._after_cr = False
        size = len(chunk)
        while start < size:
            lf = chunk.find(b"\n", start)
            cr = chunk.find(b"\r", start, lf if lf >= 0 else size)
            end = cr if cr >= 0 else lf
            if end < 0:
                break
            piece = chunk[start:end]
            line = b"".join([*self._partial, piece]) if self._partial else piece
            self._partial = []
            if cr >= 0:
                start = cr + 1
                if start == size:
                    self._after_cr = True
                elif chunk[start] == 0x0A:
                    start += 1
            else:
                start = lf + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        if start < size:
            self._partial.append(chunk[start:] if start else chunk)
        return events

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
