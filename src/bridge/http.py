"""The HTTP edge's one vocabulary: ASGI types, request headers read once, `HttpError`, answers.

Every early answer the bridge gives (security refusals, transport errors, unknown paths) is an
`HttpError`: an HTTP status, a JSON-RPC error body a client can show (echoing the request's id
when the bridge could read one), a few headers, and the reason it is counted under in the
metrics. `REASONS` is the one table of those labels. `Headers` parses a request's header lines
once; every layer after that reads the same object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

from bridge import codec, jsonrpc

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

JSON_TYPE: Final = b"application/json"
SSE_TYPE: Final = b"text/event-stream"

# The label each status is counted under (`bridge_http_errors_total{reason}`) when the raiser
# names no more precise one.
REASONS: Final = {
    400: "bad_request", 401: "unauthorized", 403: "origin_not_allowed", 404: "unknown_session",
    405: "method_not_allowed", 406: "not_acceptable", 409: "get_stream_exists", 413: "body_too_large",
    415: "unsupported_media_type", 421: "host_not_allowed", 500: "internal_error", 503: "unavailable",
}
_CODE_REASONS: Final = {jsonrpc.PARSE_ERROR: "parse_error",
                        jsonrpc.UNSUPPORTED_PROTOCOL_VERSION: "unsupported_protocol_version"}


class HttpError(Exception):
    """An answer that ends a request early: status, JSON-RPC error body, headers, metrics reason."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int = jsonrpc.INVALID_REQUEST,
        id_: object = None,
        data: Any = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
        reason: str = "",
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.code = code
        self.id = id_
        self.data = data
        self.headers = list(headers)
        self.reason = reason or _CODE_REASONS.get(code) or REASONS.get(status, "error")

    @property
    def body(self) -> bytes:
        return jsonrpc.error(self.id, self.code, self.message, self.data)

    def with_id(self, id_: object) -> HttpError:
        """The same answer echoing `id_` (a request id read after the error was raised)."""
        self.id = id_
        return self

    async def send(self, send: Send, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await respond(send, self.status, self.body, [*self.headers, *extra])


class ClientDisconnected(Exception):
    """The client went away before its request was read whole: nothing to answer, nothing broken."""


class Headers:
    """A request's headers by lower-case name, repeated lines joined with `,`: parsed once.

    ASGI servers already lower-case the names. The object is kept in the scope, so the security
    layer and the transport read the same parse.
    """

    __slots__ = ("_values",)
    _KEY: Final = "bridge.headers"

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        values = dict(raw)
        if len(values) != len(raw):  # a repeated name: join its lines, in order
            values = {}
            for name, value in raw:
                values[name] = values[name] + b"," + value if name in values else value
        self._values = values

    @classmethod
    def of(cls, scope: Scope) -> Headers:
        found: Headers | None = scope.get(cls._KEY)
        if found is None:
            found = scope[cls._KEY] = cls(list(scope["headers"]))
        return found

    def get(self, name: bytes, default: bytes | None = None) -> bytes | None:
        return self._values.get(name, default)

    def __contains__(self, name: bytes) -> bool:
        return name in self._values

    def text(self) -> dict[str, str]:
        """The headers as text (latin-1, as HTTP has them), for code that maps names to values."""
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self._values.items()}


_accepted: dict[tuple[bytes, bytes], bool] = {}  # clients send the same few Accept values


def accepts(accept: bytes, media_type: bytes) -> bool:
    """Whether an Accept header admits `media_type` (exactly, by `type/*`, or `*/*`)."""
    key = (accept, media_type)
    found = _accepted.get(key)
    if found is None:
        major = media_type.split(b"/")[0] + b"/*"
        found = any(part.split(b";")[0].strip().lower() in (media_type, major, b"*/*")
                    for part in accept.split(b","))
        if len(_accepted) < 256:
            _accepted[key] = found
    return found


def is_json(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.split(b";")[0].strip().lower() == JSON_TYPE


class BodyTooLarge(HttpError):
    """413; `head` keeps the first bytes received, where a request's id usually is."""

    def __init__(self, limit: int, head: bytes) -> None:
        super().__init__(413, f"Request body too large (limit {limit} bytes)")
        self.head = head


async def read_body(headers: Headers, receive: Receive, limit: int) -> bytes:
    """The whole request body; `BodyTooLarge` past `limit`, `ClientDisconnected` if it is cut short."""
    length = headers.get(b"content-length")
    announced_too_large = length is not None and length.isdigit() and int(length) > limit
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if announced_too_large or size > limit:
            raise BodyTooLarge(limit, (chunks[0] if chunks else chunk)[:4096])
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_body(body: bytes) -> Any:
    """Exactly one JSON value; `HttpError(400, -32700)` otherwise."""
    try:
        return codec.loads(body)
    except codec.DecodeError:
        raise HttpError(400, "Parse error: the body is not one JSON value", code=jsonrpc.PARSE_ERROR) from None


async def respond(send: Send, status: int, body: bytes = b"", headers: Iterable[tuple[bytes, bytes]] = (),
                  content_type: bytes = JSON_TYPE) -> None:
    """A whole response in two ASGI messages: status and headers, then the body."""
    out = list(headers)
    if body:
        out.append((b"content-type", content_type))
    out.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body, "more_body": False})
