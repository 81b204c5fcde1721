"""What `bridge connect` reads of a JSON-RPC message, and the few messages it writes itself.

A message crosses as the bytes it was written as. Routing needs only its `id` and `method`:
msgspec decodes those two and skips the rest (still checking that the whole text is JSON), so a
multi-megabyte result is never turned into Python objects. msgspec also keeps integers of any
size exact, where orjson would read one beyond 64 bits as a float.
"""

from __future__ import annotations

import json
from typing import Any, Final

import msgspec

Key = int | str
"""A request id as routing tracks it (MCP allows only strings and integers)."""

INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
PARSE_ERROR: Final = -32700
REMOTE_ERROR: Final = -32000
"""The code of every error `bridge connect` answers for the remote (the SDKs' "connection closed")."""

INITIALIZE: Final = "initialize"
INITIALIZED: Final = "notifications/initialized"
CANCELLED: Final = "notifications/cancelled"
DISCOVER: Final = "server/discover"
PING: Final = "ping"
SUBSCRIBE: Final = "resources/subscribe"
UNSUBSCRIBE: Final = "resources/unsubscribe"
SET_LEVEL: Final = "logging/setLevel"


class NotJson(ValueError):
    """Bytes that are not one JSON object or array."""


class Head(msgspec.Struct, frozen=True):
    """A message's `id` (UNSET when absent, None when null) and `method`."""

    id: Any = msgspec.UNSET
    method: Any = None

    @property
    def has_id(self) -> bool:
        return self.id is not msgspec.UNSET

    @property
    def is_request(self) -> bool:
        return isinstance(self.method, str) and self.has_id

    @property
    def is_notification(self) -> bool:
        return isinstance(self.method, str) and not self.has_id

    @property
    def is_response(self) -> bool:
        return self.method is None and self.has_id

    @property
    def key(self) -> Key | None:
        """The id as a tracking key; None for a null, missing or invalid id."""
        return self.id if type(self.id) is int or type(self.id) is str else None


_HEADS: Final = msgspec.json.Decoder(Head | list[Head])


def heads(raw: bytes) -> list[Head]:
    """The messages of one JSON text (a batch gives several); `NotJson` otherwise."""
    try:
        value = _HEADS.decode(raw)
    except msgspec.DecodeError as exc:
        raise NotJson(str(exc)) from None
    return value if isinstance(value, list) else [value]


def _load(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


def _dump(value: Any) -> bytes:
    """JSON bytes that can always be written (a lone surrogate in a string id is escaped)."""
    try:
        return msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError):
        return json.dumps(value, separators=(",", ":")).encode()


def params(raw: bytes) -> dict[str, Any]:
    """A message's `params` object, decoded whole (for the few small requests kept for replay)."""
    value = _load(raw)
    found = value.get("params") if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def with_id(raw: bytes, new_id: Key) -> bytes:
    """The same message with another id (a replay's: its answer is ours, not the client's)."""
    value = _load(raw)
    if not isinstance(value, dict):
        raise NotJson("not a JSON object")
    value["id"] = new_id
    return _dump(value)


def error(id_: object, message: str, code: int = REMOTE_ERROR) -> bytes:
    return _dump({"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}})


def result(id_: object, value: Any) -> bytes:
    return _dump({"jsonrpc": "2.0", "id": id_, "result": value})


def is_error(raw: bytes) -> bool:
    """Whether an answer is a JSON-RPC error (decoding only its top-level keys)."""
    try:
        keys = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except msgspec.DecodeError:
        return True
    return "error" in keys or "result" not in keys


def protocol_version(raw: bytes) -> str | None:
    """`result.protocolVersion` of an initialize answer."""
    value = _load(raw)
    answer = value.get("result") if isinstance(value, dict) else None
    found = answer.get("protocolVersion") if isinstance(answer, dict) else None
    return found if isinstance(found, str) else None


def one_line(data: bytes) -> bytes:
    """A JSON text as one line: raw newlines in JSON are whitespace, so spaces do the same job."""
    if b"\n" in data or b"\r" in data:
        return data.replace(b"\n", b" ").replace(b"\r", b" ")
    return data
