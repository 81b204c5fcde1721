"""Streamable HTTP: POST / GET / DELETE on one path, sessions named by `Mcp-Session-Id`."""

from __future__ import annotations

import logging
from typing import Any

from bridge import jsonrpc
from bridge.config import Settings
from bridge.observability import session_context
from bridge.routes import Outbox
from bridge.security import RefusedError
from bridge.sessions import Registry, Session, SessionEnded
from bridge.transports import http
from bridge.transports.base import answer_error, credential, open_session
from bridge.transports.http import HttpError, Receive, Scope, Send

log = logging.getLogger("bridge.streamable")

SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
ALLOW = [(b"allow", b"GET, POST, DELETE")]


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
                                id_=value.get("id") if isinstance(value, dict) else None)
            await self._initialize(scope, value, body, receive, send)
            return
        session = self._session(scope, session_id)
        with session_context(session.tag):
            await self._post_messages(session, value, body, receive, send)

    async def _post_messages(self, session: Session, value: Any, body: bytes, receive: Receive, send: Send) -> None:
        messages = batch_items(value, session) if isinstance(value, list) else [value]
        for message in messages:
            if not isinstance(message, dict):
                raise HttpError(400, jsonrpc.INVALID_REQUEST, "Invalid Request: expected a JSON-RPC message")
        raw = body if len(messages) == 1 else None
        requests = sum(1 for m in messages if jsonrpc.is_request(m))
        outbox = self._outbox()
        try:
            for message in messages:
                await session.submit(message, raw, outbox)
        except SessionEnded:
            raise HttpError(404, jsonrpc.INVALID_REQUEST, "Session not found") from None
        if not requests:
            await http.respond(send, 202)
            return
        extra = [(SESSION_HEADER, session.id.encode())]
        with outbox.receive:
            if self.json_response:
                answers = await collect(receive, outbox, requests)
                if answers is not None:
                    await respond_json(send, answers, isinstance(value, list), extra)
            else:
                await http.start_sse(send, extra)
                await http.stream_events(receive, send, outbox, self.settings.keepalive, requests)

    def _outbox(self) -> Outbox:
        return Outbox(not self.json_response, self.settings.max_queue, self.settings.stall_timeout)

    async def _initialize(
        self, scope: Scope, message: dict[str, Any], body: bytes, receive: Receive, send: Send
    ) -> None:
        """Start a session: the child answers the client's own initialize; then its id is published."""
        session = await open_session(self.registry, "streamable", scope)
        with session_context(session.tag):
            outbox = self._outbox()
            with outbox.receive:
                try:
                    await session.submit(message, body, outbox)
                except SessionEnded:
                    raise HttpError(500, jsonrpc.INTERNAL_ERROR, "The server process ended at start") from None
                items: list[tuple[bytes, bool]] = []

                async def until_answer() -> None:
                    async for item in outbox.receive:
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
            for data, _final in items:
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
        channel = session.get_channel
        opened = channel.attach() if channel is not None else None
        if channel is None or opened is None:
            raise HttpError(409, jsonrpc.INVALID_REQUEST, "Conflict: this session already has a GET stream")
        outbox, held = opened
        with session_context(session.tag), outbox.receive:
            try:
                await http.start_sse(send, [(SESSION_HEADER, session.id.encode())])
                for data in held:
                    await http.write(send, http.event(data))
                await http.stream_events(receive, send, outbox, self.settings.keepalive)
            finally:
                channel.detach(outbox)

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


def batch_items(value: list[Any], session: Session) -> list[Any]:
    """A JSON-RPC batch, split for children negotiated at 2025-03-26 or earlier; 400 otherwise."""
    if not session.accepts_batches():
        raise HttpError(400, jsonrpc.INVALID_REQUEST,
                        f"Batches are not supported at protocol version {session.protocol_version}")
    if not value:
        raise HttpError(400, jsonrpc.INVALID_REQUEST, "Invalid Request: empty batch")
    return value


async def collect(receive: Receive, outbox: Outbox, finals: int) -> list[bytes] | None:
    """The answers for a JSON-response POST; None when the client left first."""
    answers: list[bytes] = []

    async def gather() -> None:
        remaining = finals
        async for data, final in outbox.receive:
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

