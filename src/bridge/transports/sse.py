"""Legacy SSE (2024-11-05): `GET /sse` opens a session's stream, `POST /messages?session_id=` feeds it."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from bridge import codec
from bridge.config import Settings
from bridge.http import (
    BodyTooLarge,
    ClientDisconnected,
    Headers,
    HttpError,
    Receive,
    Scope,
    Send,
    is_json,
    parse_body,
    read_body,
    respond,
)
from bridge.observability import session_context
from bridge.session import Registry, Session
from bridge.streams import Outbox
from bridge.transports import events
from bridge.transports.intake import (
    SESSION_HEADER,
    client_messages,
    credential,
    open_session,
    refuse,
    session_not_found,
    submit_all,
)

log = logging.getLogger("bridge.sse")

LABEL = "sse"


class SseEndpoint:
    """`GET` on the SSE path: one session per stream; the session ends when the stream closes."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.endpoint_prefix = (settings.base_url.rstrip("/") + settings.message_path).encode() + b"?session_id="

    def _stream(self) -> Outbox:
        return Outbox(True, self.settings.max_queue, self.settings.stall_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] != "GET":
                raise HttpError(405, "Method not allowed", headers=[(b"allow", b"GET")])
            session = await open_session(self.registry, LABEL, self._stream, scope)
        except HttpError as exc:
            await refuse(self.registry.metrics, send, exc)
            return
        session_id = self.registry.publish(session)
        with session_context(session.tag), session.default as outbox:
            try:
                await events.start_sse(send, [(SESSION_HEADER, session_id.encode())])  # for learning balancers
                await events.write(send, b"event: endpoint\ndata: " + self.endpoint_prefix + session_id.encode() + b"\n\n")
                await events.stream_events(receive, send, outbox, self.settings.keepalive)
            finally:
                session.end("SSE stream closed")


class MessagesEndpoint:
    """`POST` on the message path: each message goes to the session's child; the answer is 202.

    A refusal whose request id the bridge can read is also sent, as that request's JSON-RPC error,
    on the session's stream: SSE clients read answers only there, and many ignore a POST's status.
    """

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session: Session[Outbox] | None = None
        try:
            if scope["method"] != "POST":
                raise HttpError(405, "Method not allowed", headers=[(b"allow", b"POST")])
            session = self._session(scope)
            with session_context(session.tag):
                await self._post(session, scope, receive, send)
        except HttpError as exc:
            if session is not None:
                await self._tell_stream(session, exc)
            await refuse(self.registry.metrics, send, exc)
        except ClientDisconnected as exc:
            await refuse(self.registry.metrics, send, exc)

    async def _post(self, session: Session[Outbox], scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers.of(scope)
        if not is_json(headers.get(b"content-type")):
            raise HttpError(415, "Unsupported Media Type: use application/json")
        try:
            body = await read_body(headers, receive, self.settings.max_body_size)
        except BodyTooLarge as exc:
            raise exc.with_id(codec.peek_id(exc.head)) from None
        try:
            value: Any = parse_body(body)
        except HttpError as exc:
            raise exc.with_id(codec.peek_id(body)) from None
        await submit_all(session, client_messages(value, body, session), session.default)
        await respond(send, 202)

    async def _tell_stream(self, session: Session[Outbox], error: HttpError) -> None:
        if error.id is not None and error.status != 404:
            await session.default.deliver(error.body, False)

    def _session(self, scope: Scope) -> Session[Outbox]:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id")
        if not values:
            raise HttpError(400, "Bad Request: missing session_id", reason="missing_session_id")
        session = self.registry.get(values[0], LABEL, credential(scope))
        if session is None:
            raise session_not_found(self.registry, values[0])
        return session
