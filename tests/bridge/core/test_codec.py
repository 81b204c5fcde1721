"""The JSON codec: the large-response fast path finds only a top-level id, and checks the whole line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge import codec

BIG = "x" * (codec.LARGE_LINE + 10)


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("line", [
    compact({"jsonrpc": "2.0", "id": 7, "result": {"text": BIG}}),  # Python SDKs: id first
    compact({"result": {"text": BIG}, "jsonrpc": "2.0", "id": 7}),  # TypeScript SDKs: id last
    b'  { "jsonrpc" : "2.0" , "id" : 7 , "error" : {"code": 1, "message": "' + BIG.encode() + b'"} } ',
])
def test_a_large_response_gets_its_id_replaced_in_place(line: bytes) -> None:
    span = codec.locate_response_id(line)
    assert span is not None and span.value == 7
    replaced = codec.replace_id(line, span, "client-1")
    expected = json.loads(line)
    expected["id"] = "client-1"
    assert json.loads(replaced) == expected


@pytest.mark.parametrize("line", [
    compact({"jsonrpc": "2.0", "result": {"id": 7, "text": BIG}, "id": "7"}),  # a string id
    compact({"jsonrpc": "2.0", "result": {"text": BIG, "id": 7}}),  # no top-level id at all
    compact({"jsonrpc": "2.0", "id": 7, "method": "sampling/createMessage", "params": {"t": BIG}}),
    compact({"jsonrpc": "2.0", "id": 7, "result": 1, "error": {"t": BIG}}),  # both: not a response
    compact({"result": {"t": BIG}, "id": 7, "jsonrpc": "2.0"}),  # id neither first nor last
    compact([{"jsonrpc": "2.0", "id": 7, "result": BIG}]),
])
def test_anything_else_takes_the_ordinary_path(line: bytes) -> None:
    assert codec.locate_response_id(line) is None


@pytest.mark.parametrize("line", [
    compact({"jsonrpc": "2.0", "id": 7, "result": {"text": BIG}})[:-1],
    compact({"jsonrpc": "2.0", "id": 7, "result": {"text": BIG}}).replace(b"xxxx", b"x\x01xx", 1),
    compact({"jsonrpc": "2.0", "id": 7, "result": {"ok": True, "text": BIG}}).replace(b"true", b"ture"),
])
def test_a_large_line_that_is_not_json_is_refused(line: bytes) -> None:
    with pytest.raises(codec.DecodeError):
        codec.locate_response_id(line)


def test_the_standard_library_fallback_reads_and_writes_the_same() -> None:
    value = {"jsonrpc": "2.0", "id": 1, "result": {"text": "é ✓ \u2028", "n": [1, 2.5, None, True]}}
    assert codec._std_dumps(value) == codec.dumps(value)
    assert codec._std_loads(codec.dumps(value)) == codec.loads(codec.dumps(value)) == value
    with pytest.raises(codec.DecodeError):
        codec._std_loads(b"{nope")


@pytest.mark.parametrize("size", [100, 3000, 70000])
def test_dumped_messages_hold_no_more_memory_than_their_size(size: int) -> None:
    """Messages wait in queues and the replay log: a 100-byte one must not pin a 4 KiB buffer."""
    import tracemalloc

    value = {"jsonrpc": "2.0", "id": 1, "result": {"text": "x" * size}}
    tracemalloc.start()
    try:
        kept = [codec.dumps(value) for _ in range(20)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 20 * (len(kept[0]) + 200)
