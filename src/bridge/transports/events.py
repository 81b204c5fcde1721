"""Raw ASGI helpers shared by both transports: headers, bodies, error answers, SSE streams."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import anyio

from bridge import jsonrpc
from bridge.routes import Outbox

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

JSON_TYPE = b"application/json"
SSE_TYPE = b"text/event-stream"
SSE_HEADERS: RawHeaders = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
KEEPALIVE = b": keepalive\n\n"


class BodyTooLarge(Exception):
    pass


REASONS = {400: "bad_request", 404: "unknown_session", 405: "method_not_allowed", 406: "not_acceptable",
           409: "get_stream_exists", 413: "body_too_large", 415: "unsupported_media_type",
           500: "internal_error", 503: "unavailable"}


class HttpError(Exception):
    """An answer that ends a request early: status, a JSON-RPC error body (or none), headers.

    `reason` is the short label the error is counted under in the metrics.
    """

    def __init__(self, status: int, code: int | None = None, message: str = "", data: Any = None,
                 headers: RawHeaders | None = None, id_: object = None, reason: str = "") -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body = jsonrpc.error(id_, code, message, data) if code is not None else b""
        self.headers = headers or []
        if not reason:
            reason = {jsonrpc.PARSE_ERROR: "parse_error",
                      jsonrpc.UNSUPPORTED_PROTOCOL_VERSION: "unsupported_protocol_version"}.get(code or 0, "")
        self.reason = reason or REASONS.get(status, "error")


def headers_of(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lower-case name (ASGI servers already lower-case them)."""
    return dict(scope["headers"])


_accepted: dict[tuple[bytes, bytes], bool] = {}  # clients send the same few Accept values


def accepts(accept: bytes, media_type: bytes) -> bool:
    """Whether an Accept header admits `media_type` (exactly, by `type/*`, or `*/*`)."""
    key = (accept, media_type)
    found = _accepted.get(key)
    if found is None:
        found = _parse_accepts(accept, media_type)
        if len(_accepted) < 256:
            _accepted[key] = found
    return found


def _parse_accepts(accept: bytes, media_type: bytes) -> bool:
    major = media_type.split(b"/")[0] + b"/*"
    for part in accept.split(b","):
        kind = part.split(b";")[0].strip().lower()
        if kind in (media_type, major, b"*/*"):
            return True
    return False


def is_json(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.split(b";")[0].strip().lower() == JSON_TYPE


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, counted as it streams in; `HttpError(413)` past `limit`."""
    length = headers_of(scope).get(b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HttpError(413, jsonrpc.INVALID_REQUEST, f"Request body too large (limit {limit} bytes)")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise anyio.get_cancelled_exc_class()()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, jsonrpc.INVALID_REQUEST, f"Request body too large (limit {limit} bytes)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_body(body: bytes) -> Any:
    """Exactly one JSON value; `HttpError(400, -32700)` otherwise."""
    try:
        return jsonrpc.loads(body)
    except jsonrpc.ParseError:
        raise HttpError(400, jsonrpc.PARSE_ERROR, "Parse error: the body is not one JSON value") from None


async def respond(send: Send, status: int, body: bytes = b"", headers: Iterable[tuple[bytes, bytes]] = (),
                  content_type: bytes = JSON_TYPE) -> None:
    out = list(headers)
    if body:
        out.append((b"content-type", content_type))
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def respond_error(send: Send, error: HttpError) -> None:
    await respond(send, error.status, error.body, error.headers)


LARGE_EVENT = 64 * 1024  # from here on an event's data is written as it is, not copied into a frame


def event_head(stream: int | None = None, seq: int = 0) -> bytes:
    """What precedes an event's data: its name, and an id `<stream>-<seq>` when resumable."""
    if stream is None or not seq:
        return b"event: message\ndata: "
    return b"event: message\nid: %d-%d\ndata: " % (stream, seq)


def event(data: bytes, stream: int | None = None, seq: int = 0) -> bytes:
    """One `message` event as bytes."""
    return b"".join((event_head(stream, seq), data, b"\n\n"))


async def send_event(send: Send, prefix: bytes, data: bytes, stream: int | None, seq: int, last: bool) -> None:
    """Write `prefix` and one event; `last` completes the response with it. Large data goes out
    in its own write rather than copied into the frame (the server copies it once anyway)."""
    if len(data) < LARGE_EVENT:
        body = b"".join((prefix, event_head(stream, seq), data, b"\n\n"))
        await send({"type": "http.response.body", "body": body, "more_body": not last})
        return
    await write(send, prefix + event_head(stream, seq))
    await write(send, data)
    await send({"type": "http.response.body", "body": b"\n\n", "more_body": not last})


def priming_event(stream: int, seq: int, retry_ms: int) -> bytes:
    """An event with an id and no data: the point a client resumes from if it loses the stream."""
    return b"event: message\nid: %d-%d\nretry: %d\ndata: \n\n" % (stream, seq, retry_ms)


async def start_sse(send: Send, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *extra]})


async def write(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def stream_events(
    receive: Receive,
    send: Send,
    outbox: Outbox,
    keepalive: float,
    finals: float = math.inf,
    prefix: bytes = b"",
) -> None:
    """Write the outbox's messages as SSE events until `finals` answers went out, the outbox
    closes, the peer leaves or the outbox gives up on a stalled reader. `prefix` (a priming event)
    goes out with the first write. The response is completed here; the caller has started it.

    A keep-alive comment goes out after `keepalive` seconds of silence. Open-ended streams (GET,
    legacy SSE) watch the connection with a task, since their end ends something. A request's
    stream (finite `finals`) does not pay for a task per request: a peer that left is noticed at
    the next keep-alive, and what was written meanwhile is in the event log for a resume.
    """
    completed = False
    with anyio.CancelScope() as scope:
        outbox.reader = scope
        if math.isinf(finals):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
                completed = await _pump(receive, send, outbox, keepalive, finals, prefix, watched=True)
                tg.cancel_scope.cancel()
        else:
            completed = await _pump(receive, send, outbox, keepalive, finals, prefix, watched=False)
    outbox.reader = None
    if not completed:
        with anyio.move_on_after(1.0):  # a stalled peer may not take even this: then the server drops it
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump(
    receive: Receive, send: Send, outbox: Outbox, keepalive: float, finals: float, pending: bytes, watched: bool
) -> bool:
    """The write loop of `stream_events`; True when it completed the response itself."""
    while finals > 0:
        item: tuple[bytes, bool, int] | None = None
        timed_out = True
        with anyio.move_on_after(keepalive):
            item = await outbox.get()
            timed_out = False
        if timed_out:
            if not watched and await _peer_left(receive):
                return False
            await write(send, pending + KEEPALIVE)
            pending = b""
            continue
        if item is None:  # the outbox closed
            break
        data, final, seq = item
        if final:
            finals -= 1
        last = finals <= 0  # the last answer completes the response in the same write
        if data:
            await send_event(send, pending, data, outbox.stream, seq, last)
        elif pending or last:
            await send({"type": "http.response.body", "body": pending, "more_body": not last})
        pending = b""
        if last:
            return True
    if pending:
        await write(send, pending)
    return False


async def _peer_left(receive: Receive) -> bool:
    """Whether the client has gone, without waiting (the server answers `receive` at once then)."""
    with anyio.move_on_after(0):
        message = await receive()
        return bool(message["type"] == "http.disconnect")
    return False


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def until_disconnect(receive: Receive, work: Callable[[], Awaitable[None]]) -> bool:
    """Run `work` unless the peer leaves first; True when `work` completed."""
    done = False
    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
        await work()
        done = True
        tg.cancel_scope.cancel()
    return done
