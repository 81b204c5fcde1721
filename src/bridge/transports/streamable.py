"""Streamable HTTP: POST / GET / DELETE on one path, sessions named by `Mcp-Session-Id`."""

from __future__ import annotations

import logging
from typing import Any

from bridge import jsonrpc
from bridge.config import Settings
from bridge.observability import session_context
from bridge.replay import GET_STREAM, Event, parse_event_id
from bridge.routes import Outbox, PostStream
from bridge.security import RefusedError
from bridge.sessions import Registry, Session, SessionEnded
from bridge.transports import http
from bridge.transports.base import (
    answer_error,
    check_message,
    client_messages,
    credential,
    open_session,
    safe_id,
)
from bridge.transports.http import HttpError, Receive, Scope, Send

log = logging.getLogger("bridge.streamable")

SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
ALLOW = [(b"allow", b"GET, POST, DELETE")]
RETRY_MS = 1000  # the `retry:` a resumable stream advises: how soon a client should reconnect


class StreamableEndpoint:
    """The ASGI app mounted at the MCP path."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.json_response = settings.json_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        try:
            if method == "POST":
                await self._post(scope, receive, send)
            elif method == "GET":
                await self._get(scope, receive, send)
            elif method == "DELETE":
                await self._delete(scope, send)
            else:
                raise HttpError(405, jsonrpc.INVALID_REQUEST, "Method not allowed", headers=ALLOW)
        except (HttpError, RefusedError) as exc:
            await answer_error(self.registry, send, exc)

    # ----- POST ------------------------------------------------------------------------------

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = http.headers_of(scope)
        accept = headers.get(b"accept", b"")
        if not http.accepts(accept, http.JSON_TYPE) or (
            not self.json_response and not http.accepts(accept, http.SSE_TYPE)
        ):
            raise HttpError(406, jsonrpc.INVALID_REQUEST,
                            "Not Acceptable: Accept must list application/json and text/event-stream")
        if not http.is_json(headers.get(b"content-type")):
            raise HttpError(415, jsonrpc.INVALID_REQUEST, "Unsupported Media Type: use application/json")
        check_version(headers)
        body = await http.read_body(scope, receive, self.settings.max_body_size)
        value = http.parse_body(body)
        session_id = headers.get(SESSION_HEADER)
        if session_id is None:
            if not (isinstance(value, dict) and value.get("method") == jsonrpc.INITIALIZE and "id" in value):
                raise HttpError(400, jsonrpc.INVALID_REQUEST, "Bad Request: no Mcp-Session-Id; initialize first",
                                id_=safe_id(value))
            check_message(value)  # its id must be valid too
            await self._initialize(scope, value, body, receive, send)
            return
        session = self._session(scope, session_id)
        with session_context(session.tag):
            await self._post_messages(session, value, body, receive, send)

    async def _post_messages(self, session: Session, value: Any, body: bytes, receive: Receive, send: Send) -> None:
        messages = client_messages(value, session)
        raw = body if len(messages) == 1 else None
        requests = sum(1 for m in messages if jsonrpc.is_request(m))
        log = session.event_log if requests else None
        outbox = self._outbox(log.new_stream() if log is not None else None)
        dest = PostStream(outbox, log, requests, session.open_streams)
        try:
            for message in messages:
                await session.submit(message, raw, dest)
        except SessionEnded:
            raise HttpError(404, jsonrpc.INVALID_REQUEST, "Session not found") from None
        if not requests:
            await http.respond(send, 202)
            return
        extra = [(SESSION_HEADER, session.id.encode())]
        with outbox:
            if self.json_response:
                answers = await collect(receive, outbox, requests)
                if answers is not None:
                    await respond_json(send, answers, isinstance(value, list), extra)
            else:
                await http.start_sse(send, extra)
                prefix = b""
                if outbox.stream is not None and session.primes_streams():
                    prefix = http.priming_event(outbox.stream, 0, RETRY_MS)
                await http.stream_events(receive, send, outbox, self.settings.keepalive, requests, prefix)

    def _outbox(self, stream: int | None = None) -> Outbox:
        return Outbox(not self.json_response, self.settings.max_queue, self.settings.stall_timeout, stream)

    async def _initialize(
        self, scope: Scope, message: dict[str, Any], body: bytes, receive: Receive, send: Send
    ) -> None:
        """Start a session: the child answers the client's own initialize; then its id is published."""
        session = await open_session(self.registry, "streamable", scope)
        with session_context(session.tag):
            outbox = self._outbox()
            with outbox:
                try:
                    await session.submit(message, body, outbox)
                except SessionEnded:
                    raise HttpError(500, jsonrpc.INTERNAL_ERROR, "The server process ended at start") from None
                items: list[tuple[bytes, bool, int]] = []

                async def until_answer() -> None:
                    while (item := await outbox.get()) is not None:
                        items.append(item)
                        if item[1]:
                            return

                if not await http.until_disconnect(receive, until_answer):
                    session.end("client left during initialize")
                    return
            if not items or not items[-1][1]:
                session.end("child did not answer initialize")
                raise HttpError(500, jsonrpc.INTERNAL_ERROR, "The server process ended before it answered",
                                reason="child_ended")
            extra: list[tuple[bytes, bytes]] = []
            if session.initialized.is_set() and not session.ended.is_set():
                extra.append((SESSION_HEADER, self.registry.publish(session).encode()))
            else:
                session.end("initialize failed")
            if self.json_response:
                await respond_json(send, [items[-1][0]], False, extra)
                return
            await http.start_sse(send, extra)
            for data, _final, _seq in items:
                if data:
                    await http.write(send, http.event(data))
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    # ----- GET and DELETE --------------------------------------------------------------------

    async def _get(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = http.headers_of(scope)
        if not http.accepts(headers.get(b"accept", b""), http.SSE_TYPE):
            raise HttpError(406, jsonrpc.INVALID_REQUEST, "Not Acceptable: Accept must list text/event-stream")
        check_version(headers)
        session = self._session(scope, headers.get(SESSION_HEADER))
        resume_from = self._last_event(session, headers.get(b"last-event-id"))
        with session_context(session.tag):
            if resume_from is not None and resume_from[0] != GET_STREAM:
                await self._resume_post(session, *resume_from, receive, send)
                return
            channel = session.get_channel
            opened = channel.attach(resume_from[1] if resume_from else None) if channel is not None else None
            if channel is None or opened is None:
                raise HttpError(409, jsonrpc.INVALID_REQUEST, "Conflict: this session already has a GET stream")
            outbox, missed, gap = opened
            # Resuming from here means: everything after what this stream starts with.
            start = missed[0][1] - 1 if missed else session.event_log.seq if session.event_log else 0
            with outbox:
                try:
                    if gap:
                        self._gap(session)
                    await http.start_sse(send, [(SESSION_HEADER, session.id.encode())])
                    if outbox.stream is not None and session.primes_streams():
                        await http.write(send, http.priming_event(GET_STREAM, start, RETRY_MS))
                    await write_events(send, missed, outbox.stream)
                    await http.stream_events(receive, send, outbox, self.settings.keepalive)
                finally:
                    channel.detach(outbox)

    def _last_event(self, session: Session, value: bytes | None) -> tuple[int, int] | None:
        """The (stream, seq) a GET resumes from; 400 for an id this session never gave."""
        if value is None or session.event_log is None:
            return None
        parsed = parse_event_id(value)
        if parsed is None or parsed[0] >= session.event_log.next_stream or parsed[1] > session.event_log.seq:
            raise HttpError(400, jsonrpc.INVALID_REQUEST, "Bad Request: Last-Event-ID names no event of this session",
                            reason="bad_last_event_id")
        return parsed

    async def _resume_post(self, session: Session, stream: int, after: int, receive: Receive, send: Send) -> None:
        """A request POST's stream again, on a GET: what was missed, then the rest as it comes."""
        assert session.event_log is not None
        outbox = self._outbox(stream)
        unfinished = session.open_streams.get(stream)
        if unfinished is None:
            missed, gap = session.event_log.after(stream, after)
            finals = 0
        else:
            missed, gap = unfinished.resume(after, outbox)
            finals = unfinished.remaining
        if gap:
            self._gap(session)
        self.registry.metrics.resumes.inc()
        log.info("stream %d resumed after event %d: %d missed, %d answers to come", stream, after, len(missed), finals)
        with outbox:
            await http.start_sse(send, [(SESSION_HEADER, session.id.encode())])
            await write_events(send, missed, stream)
            if finals:
                await http.stream_events(receive, send, outbox, self.settings.keepalive, finals)
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _gap(self, session: Session) -> None:
        log.warning("resume asked for events already evicted (--resume-buffer %d): some are lost",
                    self.settings.resume_buffer)
        self.registry.metrics.resume_gaps.inc()

    async def _delete(self, scope: Scope, send: Send) -> None:
        headers = http.headers_of(scope)
        session = self._session(scope, headers.get(SESSION_HEADER))
        session.end("client sent DELETE")
        await http.respond(send, 204)

    def _session(self, scope: Scope, session_id: bytes | None) -> Session:
        if session_id is None:
            raise HttpError(400, jsonrpc.INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id header",
                            reason="missing_session_id")
        session = self.registry.get(session_id.decode("latin-1"), "streamable", credential(scope))
        if session is None:
            raise HttpError(404, jsonrpc.INVALID_REQUEST, "Session not found")
        return session


async def write_events(send: Send, events: list[Event], stream: int | None) -> None:
    for _stream, seq, data, _final in events:
        if data:
            await http.write(send, http.event(data, stream, seq))


def check_version(headers: dict[bytes, bytes]) -> None:
    """An `MCP-Protocol-Version` a handshake-era child cannot speak is 400 (-32022, naming ours).

    This is also how a 2026-07-28 client learns to fall back to `initialize`.
    """
    version = headers.get(VERSION_HEADER)
    if version is not None and version.decode("latin-1") not in jsonrpc.HANDSHAKE_VERSIONS:
        requested = version.decode("latin-1")
        raise HttpError(400, jsonrpc.UNSUPPORTED_PROTOCOL_VERSION,
                        f"Bad Request: unsupported protocol version {requested!r}",
                        data={"supported": list(jsonrpc.HANDSHAKE_VERSIONS), "requested": requested})


async def collect(receive: Receive, outbox: Outbox, finals: int) -> list[bytes] | None:
    """The answers for a JSON-response POST; None when the client left first."""
    answers: list[bytes] = []

    async def gather() -> None:
        remaining = finals
        while (item := await outbox.get()) is not None:
            data, final, _seq = item
            if final:
                if data:
                    answers.append(data)
                remaining -= 1
                if not remaining:
                    return

    return answers if await http.until_disconnect(receive, gather) else None


async def respond_json(send: Send, answers: list[bytes], as_batch: bool, extra: list[tuple[bytes, bytes]]) -> None:
    if not answers:
        await http.respond(send, 202, headers=extra)
        return
    body = b"[" + b",".join(answers) + b"]" if as_batch else answers[0]
    await http.respond(send, 200, body, extra)

