"""The bench's SSE parser: the same events whatever the line endings and however the stream is cut."""

from __future__ import annotations

import random

import pytest

from bench.sse import Event, SseParser

STREAM = (
    ": keep-alive\n\n"
    "event: endpoint\ndata: /messages?session_id=abc\n\n"
    "id: 0-0\nretry: 1000\ndata: \n\n"
    "event: message\ndata: {\"a\": 1}\n\n"
    "data:first\ndata: second\n\n"
    "data: " + "x" * 5000 + "\n\n"
)
EXPECTED = [
    Event("endpoint", b"/messages?session_id=abc"),
    Event("message", b'{"a": 1}'),
    Event("message", b"first\nsecond"),
    Event("message", b"x" * 5000),
]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("seed", range(20))
def test_events_survive_any_cut(ending: str, seed: int) -> None:
    data = STREAM.replace("\n", ending).encode()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, 40)))
    parser = SseParser()
    events: list[Event] = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        events += parser.feed(data[start:end])
    assert events == EXPECTED
