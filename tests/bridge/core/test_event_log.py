"""The replay log's bounds and bookkeeping (unit level; the end-to-end behaviour is in test_resume)."""

from __future__ import annotations

from bridge.replay import GET_STREAM, EventLog, parse_event_id


def test_count_bound_evicts_oldest_and_reports_the_gap() -> None:
    evicted: list[int] = []
    log = EventLog(3, 1 << 30, lambda: evicted.append(1))
    stream = log.new_stream()
    seqs = [log.record(stream, b"m%d" % i, i == 4) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5] and len(evicted) == 2
    kept, gap = log.after(stream, 0)
    assert [e[1] for e in kept] == [3, 4, 5] and gap
    kept, gap = log.after(stream, 2)
    assert [e[1] for e in kept] == [3, 4, 5] and not gap


def test_byte_bound_keeps_at_least_the_newest_event() -> None:
    log = EventLog(100, 10, lambda: None)
    stream = log.new_stream()
    log.record(stream, b"x" * 6, False)
    log.record(stream, b"y" * 6, False)  # 12 bytes > 10: the first goes
    assert [e[2] for e in log.after(stream, 0)[0]] == [b"y" * 6]
    log.record(stream, b"z" * 50, True)  # alone over the bound, still kept
    assert [e[2] for e in log.after(stream, 0)[0]] == [b"z" * 50]


def test_streams_are_kept_apart() -> None:
    log = EventLog(10, 1 << 20)
    one, two = log.new_stream(), log.new_stream()
    log.record(one, b"a", False)
    log.record(GET_STREAM, b"g", False)
    log.record(two, b"b", True)
    assert [e[2] for e in log.after(one, 0)[0]] == [b"a"]
    assert [e[2] for e in log.after(GET_STREAM, 0)[0]] == [b"g"]
    assert [e[2] for e in log.after(two, 0)[0]] == [b"b"]


def test_event_ids_parse_strictly() -> None:
    assert parse_event_id(b"3-17") == (3, 17)
    for bad in (b"", b"3", b"-1", b"a-1", b"1-b", b"1-2-3", b"1" * 50 + b"-1"):
        assert parse_event_id(bad) is None


def test_long_gone_streams_are_reported_as_gaps_with_bounded_bookkeeping() -> None:
    log = EventLog(4, 1 << 20)
    streams = [log.new_stream() for _ in range(500)]
    for stream in streams:
        log.record(stream, b"answer", True)
    assert len(log._evicted) <= 65
    kept, gap = log.after(streams[0], 0)  # evicted long ago: nothing to give, and it says so
    assert kept == [] and gap
    kept, gap = log.after(streams[-1], 0)
    assert [e[2] for e in kept] == [b"answer"] and not gap
