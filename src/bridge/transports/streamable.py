"""Streamable HTTP: POST / GET / DELETE on one path, sessions named by `Mcp-Session-Id`."""

from __future__ import annotations

import logging
from typing import Any

from bridge import jsonrpc
from bridge.config import Settings
from bridge.http import (
    JSON_TYPE,
    SSE_TYPE,
    ClientDisconnected,
    Headers,
    HttpError,
    Receive,
    Scope,
    Send,
    accepts,
    is_json,
    parse_body,
    read_body,
    respond,
)
from bridge.observability import session_context
from bridge.replay import GET_STREAM, Event, EventLog, parse_event_id
from bridge.session import Registry, Session
from bridge.streams import Outbox, PostStream, StreamableStreams
from bridge.transports import events
from bridge.transports.intake import (
    SESSION_HEADER,
    check_message,
    client_messages,
    credential,
    open_session,
    refuse,
    safe_id,
    session_not_found,
    submit_all,
)
from bridge.transports.modern import SUPPORTED, ModernRequests, is_modern

log = logging.getLogger("bridge.streamable")

VERSION_HEADER = b"mcp-protocol-version"
ALLOW = [(b"allow", b"GET, POST, DELETE")]
RETRY_MS = 1000  # the `retry:` a resumable stream advises: how soon a client should reconnect
LABEL = "streamable"

StreamableSession = Session[StreamableStreams]


class StreamableEndpoint:
    """The ASGI app mounted at the MCP path."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.json_response = settings.json_response
        self.modern = ModernRequests(registry) if settings.modern else None

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
                raise HttpError(405, "Method not allowed", headers=ALLOW)
        except (HttpError, ClientDisconnected) as exc:
            await refuse(self.registry.metrics, send, exc)

    # ----- POST ------------------------------------------------------------------------------

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers.of(scope)
        accept = headers.get(b"accept") or b""
        if not accepts(accept, JSON_TYPE) or (not self.json_response and not accepts(accept, SSE_TYPE)):
            raise HttpError(406, "Not Acceptable: Accept must list application/json and text/event-stream")
        if not is_json(headers.get(b"content-type")):
            raise HttpError(415, "Unsupported Media Type: use application/json")
        body = await read_body(headers, receive, self.settings.max_body_size)
        value = parse_body(body)
        session_id = headers.get(SESSION_HEADER)
        if session_id is None and self.modern is not None and is_modern(value, headers.get(VERSION_HEADER)):
            await self.modern(scope, value, receive, send)
            return
        if session_id is None:
            check_version(headers, safe_id(value), self.modern is not None)
            if not (isinstance(value, dict) and value.get("method") == jsonrpc.INITIALIZE and "id" in value):
                raise HttpError(400, "Bad Request: no Mcp-Session-Id; initialize first", id_=safe_id(value))
            check_message(value)  # its id must be valid too
            await self._initialize(scope, value, body, receive, send)
            return
        try:
            session = self._session(scope, session_id)
        except HttpError as exc:
            raise exc.with_id(safe_id(value)) from None
        with session_context(session.tag):
            self._tolerate_version(session, headers)
            await self._post_messages(session, value, body, receive, send)

    async def _post_messages(
        self, session: StreamableSession, value: Any, body: bytes, receive: Receive, send: Send
    ) -> None:
        messages = client_messages(value, body, session)
        requests = sum(1 for message, _raw in messages if jsonrpc.is_request(message))
        streams = session.default
        log = streams.log if requests else None
        outbox = self._outbox(log.new_stream() if log is not None else None)
        dest = PostStream(outbox, log, requests, streams.unfinished, answers_cancels=self.json_response)
        await submit_all(session, messages, dest)
        if not requests:
            await respond(send, 202)
            return
        extra = [(SESSION_HEADER, session.id.encode())]
        with outbox:
            if self.json_response:
                answers = await collect(receive, outbox, requests)
                if answers is not None:
                    await respond_json(send, answers, isinstance(value, list), extra)
            else:
                await events.start_sse(send, extra)
                prefix = b""
                if outbox.stream is not None and session.primes_streams():
                    prefix = events.priming_event(outbox.stream, 0, RETRY_MS)
                await events.stream_events(receive, send, outbox, self.settings.keepalive, requests, prefix)

    def _outbox(self, stream: int | None = None) -> Outbox:
        return Outbox(not self.json_response, self.settings.max_queue, self.settings.stall_timeout, stream)

    def _streams(self) -> StreamableStreams:
        settings = self.settings
        resumable = settings.resume and not settings.json_response
        log = EventLog(settings.resume_buffer, settings.resume_bytes, self.registry.metrics.resume_evicted.inc)
        return StreamableStreams(settings.get_buffer, settings.max_queue, settings.stall_timeout,
                                 log if resumable else None)

    async def _initialize(
        self, scope: Scope, message: dict[str, Any], body: bytes, receive: Receive, send: Send
    ) -> None:
        """Start a session: the child answers the client's own initialize; then its id is published."""
        try:
            session = await open_session(self.registry, LABEL, self._streams, scope)
        except HttpError as exc:
            raise exc.with_id(message["id"]) from None
        with session_context(session.tag):
            outbox = self._outbox()
            with outbox:
                try:
                    await submit_all(session, [(message, body)], outbox)
                except HttpError:
                    session.end("the child did not take initialize")
                    raise HttpError(500, "The server process ended at start", code=jsonrpc.INTERNAL_ERROR) from None
                items: list[tuple[bytes, bool, int]] = []

                async def until_answer() -> None:
                    while (item := await outbox.get()) is not None:
                        items.append(item)
                        if item[1]:
                            return

                if not await events.until_disconnect(receive, until_answer):
                    session.end("client left during initialize")
                    return
            if not items or not items[-1][1]:
                session.end("child did not answer initialize")
                raise HttpError(500, "The server process ended before it answered", code=jsonrpc.INTERNAL_ERROR,
                                reason="child_ended")
            extra: list[tuple[bytes, bytes]] = []
            if session.initialized.is_set() and not session.ended.is_set():
                extra.append((SESSION_HEADER, self.registry.publish(session).encode()))
            else:
                session.end("initialize failed")
            if self.json_response:
                await respond_json(send, [items[-1][0]], False, extra)
                return
            await events.start_sse(send, extra)
            for data, _final, _seq in items:
                if data:
                    await events.write(send, events.event(data))
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    # ----- GET and DELETE --------------------------------------------------------------------

    async def _get(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers.of(scope)
        if not accepts(headers.get(b"accept") or b"", SSE_TYPE):
            raise HttpError(406, "Not Acceptable: Accept must list text/event-stream")
        session = self._session(scope, headers.get(SESSION_HEADER))
        self._tolerate_version(session, headers)
        streams = session.default
        resume_from = self._last_event(streams.log, headers.get(b"last-event-id"))
        with session_context(session.tag):
            if resume_from is not None and resume_from[0] != GET_STREAM:
                await self._resume_post(session, *resume_from, receive, send)
                return
            channel = streams.get
            opened = channel.attach(resume_from[1] if resume_from else None)
            if opened is None:
                raise HttpError(409, "Conflict: this session already has a GET stream")
            outbox, missed, gap = opened
            # Resuming from here means: everything after what this stream starts with.
            start = missed[0][1] - 1 if missed else streams.log.seq if streams.log else 0
            with outbox:
                try:
                    if gap:
                        self._gap()
                    await events.start_sse(send, [(SESSION_HEADER, session.id.encode())])
                    if outbox.stream is not None and session.primes_streams():
                        await events.write(send, events.priming_event(GET_STREAM, start, RETRY_MS))
                    await write_events(send, missed, outbox.stream)
                    await events.stream_events(receive, send, outbox, self.settings.keepalive)
                finally:
                    channel.detach(outbox)

    def _last_event(self, log: EventLog | None, value: bytes | None) -> tuple[int, int] | None:
        """The (stream, seq) a GET resumes from; 400 for an id this session never gave."""
        if value is None or log is None:
            return None
        parsed = parse_event_id(value)
        if parsed is None or parsed[0] >= log.next_stream or parsed[1] > log.seq:
            raise HttpError(400, "Bad Request: Last-Event-ID names no event of this session",
                            reason="bad_last_event_id")
        return parsed

    async def _resume_post(
        self, session: StreamableSession, stream: int, after: int, receive: Receive, send: Send
    ) -> None:
        """A request POST's stream again, on a GET: what was missed, then the rest as it comes."""
        streams = session.default
        assert streams.log is not None
        outbox = self._outbox(stream)
        unfinished = streams.unfinished.get(stream)
        if unfinished is None:
            missed, gap = streams.log.after(stream, after)
            finals = 0
        else:
            missed, gap = unfinished.resume(after, outbox)
            finals = unfinished.remaining
        if gap:
            self._gap()
        self.registry.metrics.resumes.inc()
        log.info("stream %d resumed after event %d: %d missed, %d answers to come", stream, after, len(missed), finals)
        with outbox:
            await events.start_sse(send, [(SESSION_HEADER, session.id.encode())])
            await write_events(send, missed, stream)
            if finals:
                await events.stream_events(receive, send, outbox, self.settings.keepalive, finals)
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _tolerate_version(self, session: StreamableSession, headers: Headers) -> None:
        """An established session takes any `MCP-Protocol-Version` as the one it negotiated: clients
        in the field send a newer one after negotiating an older (logged once per session, counted)."""
        version = headers.get(VERSION_HEADER)
        if version is None or session.protocol_version is None or session.version_noted:
            return
        sent = version.decode("latin-1")
        if sent != session.protocol_version:
            session.version_noted = True
            self.registry.metrics.version_tolerated.inc()
            log.info("client sends MCP-Protocol-Version %r on a session negotiated at %s: taken as %s",
                     sent[:40], session.protocol_version, session.protocol_version)

    def _gap(self) -> None:
        log.warning("resume asked for events already evicted (--resume-buffer %d): some are lost",
                    self.settings.resume_buffer)
        self.registry.metrics.resume_gaps.inc()

    async def _delete(self, scope: Scope, send: Send) -> None:
        session = self._session(scope, Headers.of(scope).get(SESSION_HEADER))
        session.end("client sent DELETE")
        await respond(send, 204)

    def _session(self, scope: Scope, session_id: bytes | None) -> StreamableSession:
        if session_id is None:
            raise HttpError(400, "Bad Request: missing Mcp-Session-Id header", reason="missing_session_id")
        text = session_id.decode("latin-1")
        session: StreamableSession | None = self.registry.get(text, LABEL, credential(scope))
        if session is None:
            raise session_not_found(self.registry, text)
        return session


async def write_events(send: Send, logged: list[Event], stream: int | None) -> None:
    for _stream, seq, data, _final in logged:
        if data:
            await events.write(send, events.event(data, stream, seq))


def check_version(headers: Headers, request_id: object, modern: bool) -> None:
    """Before a session exists, an `MCP-Protocol-Version` the bridge cannot serve on a handshake-era
    request is 400 (-32022, naming what is served, echoing the request's id).

    With `--no-modern` this is also how a 2026-07-28 client learns to fall back to `initialize`.
    """
    version = headers.get(VERSION_HEADER)
    if version is not None and version.decode("latin-1") not in jsonrpc.HANDSHAKE_VERSIONS:
        requested = version.decode("latin-1")
        supported = SUPPORTED if modern else list(jsonrpc.HANDSHAKE_VERSIONS)
        raise HttpError(400, f"Bad Request: unsupported protocol version {requested!r}",
                        code=jsonrpc.UNSUPPORTED_PROTOCOL_VERSION, id_=request_id,
                        data={"supported": supported, "requested": requested})


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

    return answers if await events.until_disconnect(receive, gather) else None


async def respond_json(send: Send, answers: list[bytes], as_batch: bool, extra: list[tuple[bytes, bytes]]) -> None:
    if not answers:
        await respond(send, 202, headers=extra)
        return
    body = b"[" + b",".join(answers) + b"]" if as_batch else answers[0]
    await respond(send, 200, body, extra)

