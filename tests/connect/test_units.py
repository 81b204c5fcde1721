"""The pieces without the network: the SSE parser, stdin's line splitter, `--header` resolution,
options from flags and BRIDGE_CONNECT_* variables, and what routing reads of a message."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge.connect.command import options_from
from bridge.connect.headers import HeaderError, resolve
from bridge.connect.messages import heads, one_line, with_id
from bridge.connect.sse import Event, Parser
from bridge.connect.stdio import split_lines

STREAM = (b"\xef\xbb\xbf: a comment\r\n"
          b"retry: 2500\r\n"
          b"id: 1-0\r\ndata: \r\n\r\n"
          b"event: endpoint\rdata: /messages?session_id=abc\r\r"
          b"id: 1-1\ndata: {\"a\":\ndata: 1}\n\n"
          b"data:no-space\nunknown: field\n\n")
EXPECTED = [
    Event("message", b"", "1-0"),
    Event("endpoint", b"/messages?session_id=abc", "1-0"),
    Event("message", b'{"a":\n1}', "1-1"),
    Event("message", b"no-space", "1-1"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_sse_events_whatever_the_chunks(size: int) -> None:
    parser = Parser()
    found = [e for i in range(0, len(STREAM), size) for e in parser.feed(STREAM[i:i + size])]
    assert found == EXPECTED
    assert parser.retry_ms == 2500 and parser.last_id == "1-1"


def test_an_event_cut_off_does_not_count_as_received() -> None:
    parser = Parser()
    assert parser.feed(b"id: 1-0\ndata: \n\nid: 1-1\ndata: {\"partial") == [Event("message", b"", "1-0")]
    assert parser.last_id == "1-0"  # what a resume asks to continue after
    parser.restart()
    assert parser.feed(b"id: 1-1\ndata: whole\n\n") == [Event("message", b"whole", "1-1")]


def test_a_large_event_in_small_chunks_costs_linear_time() -> None:
    data = b"x" * (8 * 1024 * 1024)
    chunks = [b"data: "] + [data[i:i + 4096] for i in range(0, len(data), 4096)] + [b"\n\n"]
    parser = Parser()
    started = time.perf_counter()
    found = [e for chunk in chunks for e in parser.feed(chunk)]
    assert time.perf_counter() - started < 2.0
    assert len(found) == 1 and found[0].data == data


def test_stdin_lines_of_any_length() -> None:
    long = b'{"x":"' + b"y" * 3_000_000 + b'"}'
    source = iter([b'{"a":1}\r\n\n  \n{"b"', b":2}\n" + long[:100], long[100:] + b"\n", b'{"tail":true}'])
    assert list(split_lines(lambda: next(source, b""))) == [b'{"a":1}', b'{"b":2}', long, b'{"tail":true}']


def test_headers_from_values_variables_and_files(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  from-a-file\n")
    env = {"TOK": "from-env", "FULL": "Bearer whole"}
    assert resolve(["X-Plain:  a, b c ", "Authorization: Bearer env:TOK", "X-Full: env:FULL",
                    f"X-File: file:{token}", f"X-Token: Token file:{token}"], env) == [
        ("X-Plain", "a, b c"), ("Authorization", "Bearer from-env"), ("X-Full", "Bearer whole"),
        ("X-File", "from-a-file"), ("X-Token", "Token from-a-file")]


@pytest.mark.parametrize(
    ("spec", "why"),
    [("no colon", "expected 'Name: value'"), ("Bad Name: x", "expected 'Name: value'"),
     ("X: env:MISSING", "'MISSING' is not set"), ("X: file:/nonexistent/f", "cannot read"),
     ("Mcp-Session-Id: x", "set by the transport"), ("X: env:NEWLINE", "line break")],
)
def test_bad_headers_are_named(spec: str, why: str) -> None:
    with pytest.raises(HeaderError, match=why) as caught:
        resolve([spec], {"NEWLINE": "a\nb"})
    assert "a\nb" not in str(caught.value)


def test_options_take_headers_one_per_line_from_their_variable() -> None:
    values = {"url": "http://x/mcp", "headers": None}
    options = options_from(values, {"BRIDGE_CONNECT_HEADERS": "A: 1, 2\n\n  B: x y  \n"})
    assert options.headers == ("A: 1, 2", "B: x y")
    flags = options_from({"url": "http://x/mcp", "headers": ["C: 3"]}, {"BRIDGE_CONNECT_HEADERS": "A: 1"})
    assert flags.headers == ("C: 3",)  # flags win over the variable


def test_what_routing_reads_of_a_message() -> None:
    [request] = heads(b'{"jsonrpc":"2.0","id":"a","method":"m","params":{"x":[1,2]}}')
    [note] = heads(b'{"jsonrpc":"2.0","method":"n"}')
    [answer] = heads(b'{"jsonrpc":"2.0","id":12345678901234567890,"result":{}}')
    [unknown] = heads(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}')
    batch = heads(b'[{"id":1,"method":"a"},{"id":2,"error":{}}]')
    assert request.is_request and request.key == "a"
    assert note.is_notification and note.key is None
    assert answer.is_response and answer.key == 12345678901234567890
    assert unknown.is_response and unknown.key is None
    assert [h.key for h in batch] == [1, 2] and batch[1].is_response
    assert with_id(b'{"jsonrpc":"2.0","id":0,"method":"initialize"}', "mine") == \
        b'{"jsonrpc":"2.0","id":"mine","method":"initialize"}'
    assert one_line(b'{\n"a": 1\r\n}') == b'{ "a": 1  }'
