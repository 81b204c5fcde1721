"""What both transports do alike: open a session for a request, find the caller's session, answer errors."""

from __future__ import annotations

import logging
from typing import Any

from bridge import jsonrpc
from bridge.security import CREDENTIAL_ID, RefusedError
from bridge.sessions import Kind, Registry, Session, Unavailable
from bridge.transports import http
from bridge.transports.http import HttpError, Scope, Send

log = logging.getLogger("bridge.transports")


def credential(scope: Scope) -> str | None:
    """The credential id the security layer found for this request (None: auth is off)."""
    state = scope.get("state")
    return state.get(CREDENTIAL_ID) if state else None


async def open_session(registry: Registry, kind: Kind, scope: Scope) -> Session:
    """A new session for this request, or the `HttpError` / `RefusedError` that says why not."""
    try:
        return await registry.open(kind, scope["headers"], credential(scope))
    except Unavailable as exc:
        raise HttpError(503, jsonrpc.INTERNAL_ERROR, f"Service unavailable: {exc}",
                        headers=[(b"retry-after", b"5")]) from None
    except OSError as exc:
        log.error("could not start the child: %s", exc)
        raise HttpError(500, jsonrpc.INTERNAL_ERROR, "Could not start the server process",
                        reason="spawn_failed") from None


def client_messages(value: Any, session: Session) -> list[dict[str, Any]]:
    """The messages of a POST body (a batch split where the child's version allows one); 400 otherwise."""
    if isinstance(value, list):
        if not session.accepts_batches():
            raise HttpError(400, jsonrpc.INVALID_REQUEST,
                            f"Batches are not supported at protocol version {session.protocol_version}")
        if not value:
            raise HttpError(400, jsonrpc.INVALID_REQUEST, "Invalid Request: empty batch")
        messages = value
    else:
        messages = [value]
    for message in messages:
        check_message(message)
    return messages


def check_message(message: Any) -> None:
    """400 for a message routing cannot rely on, before anything of it reaches the child."""
    problem = jsonrpc.problem(message)
    if problem is not None:
        raise HttpError(400, jsonrpc.INVALID_REQUEST, f"Invalid Request: {problem}", id_=safe_id(message))


def safe_id(message: object) -> object:
    """The id to echo in an error about this message: its own if valid, else null."""
    id_ = message.get("id") if isinstance(message, dict) else None
    return id_ if jsonrpc.valid_id(id_) else None


async def answer_error(registry: Registry, send: Send, exc: HttpError | RefusedError) -> None:
    """Send the error answer and count it."""
    if isinstance(exc, RefusedError):
        registry.metrics.http_error(exc.refusal.status, "missing_header")
        await exc.refusal.send(send)
        return
    registry.metrics.http_error(exc.status, exc.reason)
    await http.respond_error(send, exc)
