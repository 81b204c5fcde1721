"""JSON bytes in and out, and a message's id found and replaced where it is written.

- `loads` / `dumps`: orjson (bytes in, compact bytes out, trimmed to size). Only the bridge's own
  messages (errors, cancels) are ever dumped: a message that passes through keeps its bytes.
- `locate_id` / `replace_id`: the one change the bridge makes to a passing message is its id.
  The id is found by position (where SDKs write it: first, after `"jsonrpc"`, or last; else by a
  scan of the top level) and replaced in place, so numbers beyond 64 bits, key order, escapes,
  whitespace and duplicate keys elsewhere reach the other side exactly as they were written.
- `head_of_large`: for a large line, msgspec checks that the whole line is JSON while decoding
  only its top-level `id` and `method` (the result stays undecoded), so an 8 MiB answer is never
  turned into Python objects.
- `split_array`: a batch's members as the bytes they were written as.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NamedTuple, TypeGuard

import msgspec
import orjson


class DecodeError(ValueError):
    """Bytes that are not one JSON value."""


def loads(data: bytes | bytearray | memoryview) -> Any:
    """One JSON value. orjson first; what it cannot hold but JSON allows (a number beyond a
    double, such as `1e400`, or nesting past its depth limit) is read by the standard library,
    so the bridge still routes the message (and passes it on as written)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        first = exc
    try:
        return json.loads(bytes(data), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise DecodeError(str(first)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_EXACT_UP_TO: Final = 1024 * 1024


def dumps(value: Any) -> bytes:
    try:
        data = orjson.dumps(value)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate: read by the fallback
        return json.dumps(value, separators=(",", ":")).encode()
    # orjson's bytes keep the whole buffer it wrote into: 4 KiB for a 100-byte message, 8x the
    # size for larger ones. Messages wait in queues and the replay log, so they are copied to
    # their own size; past `_EXACT_UP_TO` the untouched part of the buffer is never resident,
    # and the copy would cost more than it saves.
    return bytes(memoryview(data)) if len(data) <= _EXACT_UP_TO else data


# ----- ids in place ---------------------------------------------------------------------------

LARGE_LINE: Final = 64 * 1024  # from here on a line is checked by msgspec, never decoded whole

_VALUE: Final = rb'(-?\d+|"(?:[^"\\]|\\.)*")'
# Anchored at the top level by the structure itself: the first member (optionally after
# "jsonrpc"), or the last member before the closing brace. Trusted only for a line already known
# to be JSON, and only when the value found equals the id the parser read.
_ID_FIRST: Final = re.compile(rb'\A\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*' + _VALUE + rb'\s*[,}]')
_ID_LAST: Final = re.compile(rb'[,{]\s*"id"\s*:\s*' + _VALUE + rb'\s*\}\s*\Z')
# A large line is taken for an answer only when `result` or `error` comes first or right after
# the id: a large request or notification of the child is then parsed once, by the ordinary path.
_ANSWER_ID_FIRST: Final = re.compile(
    rb'\A\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+)\s*,\s*"(?:result|error)"\s*:')
_RESULT_FIRST: Final = re.compile(rb'\A\s*\{\s*"(?:result|error)"\s*:')
_TAIL: Final = 512  # bytes searched at the end of a line for `_ID_LAST`
_TOKEN: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]')
_QUOTE, _OPEN, _CLOSE, _OPEN_LIST, _CLOSE_LIST, _COMMA, _COLON = b'"{}[],:'


class IdSpan(NamedTuple):
    """Where a message's top-level id is written in its bytes, and its value."""

    value: int | str
    start: int
    end: int


def _value_at(data: bytes, start: int, end: int) -> int | str | None:
    """The id written at `data[start:end]`: a string or an integer; else None."""
    text = data[start:end]
    if text[:1] == b'"':
        value = loads(text)
        return value if type(value) is str else None
    try:
        return int(text)
    except ValueError:  # not an integer, or more digits than Python converts
        return None


def locate_id(data: bytes, expected: object) -> IdSpan | None:
    """Where the top-level id of a JSON object is written, if it is `expected` (type-exact).

    None when no top-level id with that value is found (the caller then re-encodes the message).
    """
    match = _ID_FIRST.match(data)
    if match is not None:
        after = match.end(1)
        if data.find(b'"id"', after) != -1 or data.find(b"\\u", after) != -1:
            # Maybe a duplicate `id` later (perhaps spelled with an escape): a parser keeps the
            # last, so the id-last pattern or the scan decides.
            match = None
    if match is None:
        match = _ID_LAST.search(data, max(0, len(data) - _TAIL))
    if match is not None:
        start, end = match.span(1)
        if _written_at(expected, data, start, end):
            return IdSpan(expected, start, end)
    span = _scan_for_id(data)
    if span is not None and type(span.value) is type(expected) and span.value == expected:
        return span
    return None


def _written_at(expected: object, data: bytes, start: int, end: int) -> TypeGuard[int | str]:
    """Whether `data[start:end]` is the id `expected` (type-exact), without decoding in the common case."""
    if type(expected) is int:
        return data[start:end] == b"%d" % expected
    if type(expected) is not str or data[start] != _QUOTE:
        return False
    text = data[start:end]
    if b"\\" not in text:
        return text[1:-1] == expected.encode()
    return bool(loads(text) == expected)


def peek_id(data: bytes) -> int | str | None:
    """The id at the start or end of what may be a JSON-RPC message, without parsing it (for an
    error about a body the bridge will not parse: too large, or not JSON)."""
    match = _ID_FIRST.match(data) or _ID_LAST.search(data, max(0, len(data) - _TAIL))
    if match is None:
        return None
    try:
        return _value_at(data, match.start(1), match.end(1))
    except DecodeError:
        return None


def _scan_for_id(data: bytes) -> IdSpan | None:
    """The last top-level `id` member of an object (the one a parser keeps), by a token scan."""
    depth = 0
    key_next = False  # the next string at depth 1 is a member name
    id_key = False  # the member name just read is `id`
    value_from = -1  # where an id's value starts (just after its colon)
    found: IdSpan | None = None
    for token in _TOKEN.finditer(data):
        first = data[token.start()]
        if value_from >= 0 and depth == 1:
            if first == _QUOTE:
                end = token.end()
                start = token.start()
            elif first in (_COMMA, _CLOSE):
                start, end = value_from, token.start()
                while start < end and data[start] in b" \t\r\n":
                    start += 1
                while end > start and data[end - 1] in b" \t\r\n":
                    end -= 1
            else:
                start = end = -1
            value = _value_at(data, start, end) if start >= 0 else None
            if value is not None:
                found = IdSpan(value, start, end)
            value_from = -1
        if first == _QUOTE:
            if depth == 1 and key_next:
                name = token.group()
                id_key = name == b'"id"' or (b"\\" in name and loads(name) == "id")
                key_next = False
        elif first in (_OPEN, _OPEN_LIST):
            depth += 1
            key_next = depth == 1 and first == _OPEN
        elif first in (_CLOSE, _CLOSE_LIST):
            depth -= 1
        elif depth == 1:
            if first == _COMMA:
                key_next = True
            elif id_key:  # the colon after `"id"`
                value_from = token.end()
                id_key = False
    return found


def replace_id(data: bytes, span: IdSpan, new_id: object) -> bytes:
    """`data` with the id at `span` replaced by `new_id` (one copy of a large message)."""
    written = b"%d" % new_id if type(new_id) is int else dumps(new_id)
    if len(data) < LARGE_LINE:
        return data[: span.start] + written + data[span.end :]
    view = memoryview(data)
    return b"".join((view[: span.start], written, view[span.end :]))


def split_array(data: bytes) -> list[bytes]:
    """The members of a top-level JSON array as the bytes they were written as (whitespace trimmed)."""
    members: list[bytes] = []
    depth = 0
    start = -1
    for token in _TOKEN.finditer(data):
        first = data[token.start()]
        if first in (_OPEN, _OPEN_LIST):
            depth += 1
            if depth == 1:
                start = token.end()
        elif first in (_CLOSE, _CLOSE_LIST):
            depth -= 1
            if depth == 0:
                members.append(data[start : token.start()].strip())
        elif first == _COMMA and depth == 1:
            members.append(data[start : token.start()].strip())
            start = token.end()
    return [member for member in members if member]


class _Head(msgspec.Struct):
    """The top-level members routing reads; `result` and `error` are checked, never decoded."""

    id: Any = msgspec.UNSET
    method: Any = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_head_decoder: Final = msgspec.json.Decoder(_Head)


def head_of_large(line: bytes) -> IdSpan | None:
    """The id of a large line shaped like an answer (`result` or `error` next to a first or last
    integer id), checked to be JSON whole; `DecodeError` if it is not JSON.

    None when the line is not such an answer: the caller parses it whole instead. A large request
    or notification of the child takes that path, so msgspec only confirms what the patterns
    promise.
    """
    match = _ANSWER_ID_FIRST.match(line)
    if match is None and _RESULT_FIRST.match(line):
        match = _ID_LAST.search(line, max(0, len(line) - _TAIL))
    if match is None:
        return None
    try:
        head = _head_decoder.decode(line)
    except msgspec.ValidationError:  # JSON, but not an object of that shape: the ordinary path decides
        return None
    except msgspec.DecodeError as exc:
        raise DecodeError(str(exc)) from None
    if head.method is not msgspec.UNSET or (head.result is msgspec.UNSET) == (head.error is msgspec.UNSET):
        return None
    if type(head.id) is not int:
        return None
    value = _value_at(line, match.start(1), match.end(1))
    if type(value) is not int or value != head.id:
        return None
    return IdSpan(value, match.start(1), match.end(1))


