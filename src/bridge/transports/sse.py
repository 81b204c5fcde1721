"""Legacy SSE (2024-11-05): `GET /sse` opens a session's stream, `POST /messages?session_id=` feeds it."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from bridge import jsonrpc
from bridge.config import Settings
from bridge.observability import session_context
from bridge.security import RefusedError
from bridge.sessions import Registry, Session, SessionEnded
from bridge.transports import http
from bridge.transports.base import answer_error, client_messages, credential, open_session
from bridge.transports.http import HttpError, Receive, Scope, Send

log = logging.getLogger("bridge.sse")


class SseEndpoint:
    """`GET` on the SSE path: one session per stream; the session ends when the stream closes."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.endpoint_prefix = (settings.base_url.rstrip("/") + settings.message_path).encode() + b"?session_id="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] != "GET":
                raise HttpError(405, jsonrpc.INVALID_REQUEST, "Method not allowed", headers=[(b"allow", b"GET")])
            session = await open_session(self.registry, "sse", scope)
        except (HttpError, RefusedError) as exc:
            await answer_error(self.registry, send, exc)
            return
        session_id = self.registry.publish(session)
        outbox = session.sse_outbox
        assert outbox is not None
        with session_context(session.tag), outbox:
            try:
                await http.start_sse(send)
                await http.write(send, b"event: endpoint\ndata: " + self.endpoint_prefix + session_id.encode() + b"\n\n")
                await http.stream_events(receive, send, outbox, self.settings.keepalive)
            finally:
                session.end("SSE stream closed")


class MessagesEndpoint:
    """`POST` on the message path: each message goes to the session's child; the answer is 202."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] != "POST":
                raise HttpError(405, jsonrpc.INVALID_REQUEST, "Method not allowed", headers=[(b"allow", b"POST")])
            session = self._session(scope)
            with session_context(session.tag):
                headers = http.headers_of(scope)
                if not http.is_json(headers.get(b"content-type")):
                    raise HttpError(415, jsonrpc.INVALID_REQUEST, "Unsupported Media Type: use application/json")
                body = await http.read_body(scope, receive, self.settings.max_body_size)
                value = http.parse_body(body)
                await self._submit(session, value, body)
                await http.respond(send, 202)
        except HttpError as exc:
            await answer_error(self.registry, send, exc)

    async def _submit(self, session: Session, value: Any, body: bytes) -> None:
        messages = client_messages(value, session)
        raw = body if len(messages) == 1 else None
        try:
            for message in messages:
                await session.submit(message, raw, session.default)
        except SessionEnded:
            raise HttpError(404, jsonrpc.INVALID_REQUEST, "Session not found") from None

    def _session(self, scope: Scope) -> Session:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id")
        if not values:
            raise HttpError(400, jsonrpc.INVALID_REQUEST, "Bad Request: missing session_id",
                            reason="missing_session_id")
        session = self.registry.get(values[0], "sse", credential(scope))
        if session is None:
            raise HttpError(404, jsonrpc.INVALID_REQUEST, "Session not found")
        return session
