"""Server-sent events on a raw ASGI response: framing, keep-alives, and the writer of a stream.

Both transports stream the child's messages this way: legacy SSE for a whole session, Streamable
HTTP for a request's answer or a session's GET stream.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable

import anyio

from bridge.http import RawHeaders, Receive, Send
from bridge.streams import Outbox

SSE_HEADERS: RawHeaders = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
KEEPALIVE = b": keepalive\n\n"


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
        item = await outbox.get(keepalive)
        if outbox.timed_out:
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
