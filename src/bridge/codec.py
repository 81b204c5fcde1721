"""JSON bytes in and out: the fastest well-kept parts where installed, the standard library otherwise.

- `loads` / `dumps`: orjson (bytes in, compact bytes out, trimmed to size), else `json` with the
  same output shape.
- `locate_response_id`: for a large line, msgspec checks that the whole line is JSON while decoding
  only its top-level `id` and `method` (the result stays undecoded), so an 8 MiB answer is neither
  turned into Python objects nor serialised again: the id is found by position and replaced in
  place. Without msgspec, large lines take the ordinary path.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NamedTuple

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by test_codec's fallback test
    orjson = None  # type: ignore[assignment]

try:
    import msgspec
except ImportError:  # pragma: no cover
    msgspec = None  # type: ignore[assignment]


class DecodeError(ValueError):
    """Bytes that are not one JSON value."""


def _std_loads(data: bytes | bytearray | memoryview) -> Any:
    try:
        return json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(str(exc)) from None


def _std_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _orjson_loads(data: bytes | bytearray | memoryview) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(str(exc)) from None


_EXACT_UP_TO: Final = 1024 * 1024


def _orjson_dumps(value: Any) -> bytes:
    data = orjson.dumps(value)
    # orjson's bytes keep the whole buffer it wrote into: 4 KiB for a 100-byte message, 8x the
    # size for larger ones (measured). Messages are kept in queues and the replay log, so they are
    # copied to their own size; past `_EXACT_UP_TO` the untouched part of the buffer is never
    # resident, and the copy would cost more than it saves.
    return bytes(memoryview(data)) if len(data) <= _EXACT_UP_TO else data


if orjson is not None:
    loads = _orjson_loads
    dumps = _orjson_dumps
else:  # pragma: no cover
    loads = _std_loads
    dumps = _std_dumps


# ----- large responses ------------------------------------------------------------------------

LARGE_LINE: Final = 64 * 1024  # below this, a full parse and dump cost less than they save

# The id of a response is found where it must be at the top level: right after the opening brace
# (optionally after "jsonrpc"), as Python SDKs write it, or right before the closing brace, as
# TypeScript SDKs do. Only once the whole line is known to be JSON is the match trusted.
# Either pattern also shows the line is shaped like an answer (`result` or `error` first or right
# after the id), so a large request or notification of the child is parsed once, by the ordinary
# path, and msgspec only confirms what the patterns promise.
_ID_FIRST: Final = re.compile(
    rb'\A\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+)\s*,\s*"(?:result|error)"\s*:'
)
_RESULT_FIRST: Final = re.compile(rb'\A\s*\{\s*"(?:result|error)"\s*:')
_ID_LAST: Final = re.compile(rb'[,{]\s*"id"\s*:\s*(-?\d+)\s*\}\s*\Z')
_TAIL: Final = 64  # bytes searched at the end of a line for `_ID_LAST`


class IdSpan(NamedTuple):
    """Where a response's integer id is written in its line."""

    value: int
    start: int
    end: int


if msgspec is not None:

    class _Head(msgspec.Struct):
        """The top-level members routing reads; `result` and `error` are checked, never decoded."""

        id: Any = msgspec.UNSET
        method: Any = msgspec.UNSET
        result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
        error: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET

    _head_decoder: Any = msgspec.json.Decoder(_Head)
else:  # pragma: no cover
    _head_decoder = None


def locate_response_id(line: bytes) -> IdSpan | None:
    """The integer id of a large response line and where it is; `DecodeError` if it is not JSON.

    None when the line is not a response with an integer id at a findable place (or msgspec is
    missing): the caller parses it whole instead.
    """
    if _head_decoder is None:
        return None
    match = _ID_FIRST.match(line)
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
    if type(head.id) is not int or int(match.group(1)) != head.id:
        return None
    return IdSpan(head.id, match.start(1), match.end(1))


def replace_id(line: bytes, span: IdSpan, new_id: object) -> bytes:
    """The line with the id at `span` replaced by `new_id` (one copy of the line)."""
    view = memoryview(line)
    return b"".join((view[: span.start], dumps(new_id), view[span.end :]))
