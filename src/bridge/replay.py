"""Resumable Streamable HTTP streams (`--resume`): a session's bounded event log.

Every message sent on a Streamable HTTP SSE stream gets the event id `<stream>-<seq>`: `stream`
names the stream within its session (0 is the GET stream; POST streams are 1, 2, ... in order) and
`seq` counts the session's events, so ids are unique per session, ordered, and name their stream.
A client that lost a stream reconnects with `GET` and `Last-Event-ID`; it gets what it missed of
that stream only, in order, once, and then (if the stream is still running) the rest live.

Memory is bounded: the log keeps the session's last `--resume-buffer` events and at most
`--resume-bytes` of them (all streams together; the newest event is always kept), and evicts
the oldest first. A resume that asks for an evicted event gets what is left,
and the gap is logged and counted (`bridge_resume_gaps_total`).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

# (stream, seq, message bytes, final)
Event = tuple[int, int, bytes, bool]
GET_STREAM = 0
EVICTED_STREAMS_KEPT = 64  # streams whose eviction point is remembered exactly; older ones count as gone


class EventLog:
    """The last `size` events of one session, across its streams."""

    __slots__ = (
        "_bytes", "_events", "_evicted", "_forgotten_below", "_max_bytes", "_on_evict", "_prune_at", "_size",
        "next_stream", "seq",
    )

    def __init__(self, size: int, max_bytes: int, on_evict: Callable[[], None] = lambda: None) -> None:
        self._events: collections.deque[Event] = collections.deque()
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._on_evict = on_evict
        self._evicted: dict[int, int] = {}  # stream -> newest seq evicted from it (recent streams only)
        self._forgotten_below = 0  # POST streams older than this lost all their events
        self._prune_at = EVICTED_STREAMS_KEPT
        self.seq = 0  # the newest event's seq
        self.next_stream = 1

    def new_stream(self) -> int:
        key = self.next_stream
        self.next_stream += 1
        return key

    def record(self, stream: int, data: bytes, final: bool) -> int:
        """Keep one event; its seq."""
        self.seq += 1
        self._events.append((stream, self.seq, data, final))
        self._bytes += len(data)
        while len(self._events) > self._size or (self._bytes > self._max_bytes and len(self._events) > 1):
            old_stream, old_seq, old_data, _ = self._events.popleft()
            self._bytes -= len(old_data)
            self._evicted[old_stream] = old_seq
            if len(self._evicted) > self._prune_at:
                self._prune()
            self._on_evict()
        return self.seq

    def clear(self) -> None:
        """Drop every event at once (the session is over), not whenever a cycle collection runs."""
        self._events.clear()
        self._evicted.clear()
        self._bytes = 0

    def _prune(self) -> None:
        """Forget the eviction points of streams older than anything kept (they are gone: a gap)."""
        oldest = min((e[0] for e in self._events if e[0] != GET_STREAM), default=self.next_stream)
        self._forgotten_below = max(self._forgotten_below, oldest)
        self._evicted = {k: v for k, v in self._evicted.items() if k >= oldest or k == GET_STREAM}
        self._prune_at = 2 * len(self._evicted) + EVICTED_STREAMS_KEPT  # amortised: O(1) per eviction

    def after(self, stream: int, seq: int) -> tuple[list[Event], bool]:
        """The kept events of `stream` after `seq`, and whether some of them were evicted (a gap)."""
        gap = self._evicted.get(stream, 0) > seq or (stream != GET_STREAM and stream < self._forgotten_below)
        return [e for e in self._events if e[0] == stream and e[1] > seq], gap


def parse_event_id(value: bytes) -> tuple[int, int] | None:
    """`b"3-17"` -> (3, 17); None for anything else."""
    stream, dash, seq = value.partition(b"-")
    if not dash or not stream.isdigit() or not seq.isdigit() or len(value) > 40:
        return None
    return int(stream), int(seq)
