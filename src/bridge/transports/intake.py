"""What both transports do alike with a request: open or find its session, read its messages,
answer what goes wrong."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bridge import codec, jsonrpc
from bridge.http import ClientDisconnected, Headers, HttpError, Scope, Send
from bridge.metrics import BridgeMetrics
from bridge.security import CREDENTIAL_ID
from bridge.session import ChildNotReading, Registry, Session, SessionEnded, Unavailable
from bridge.streams import Destination

log = logging.getLogger("bridge.transports")

D = TypeVar("D", bound=Destination)

# A client message as parsed, and as it was written.
ClientMessage = tuple[dict[str, Any], bytes]

SESSION_NOT_FOUND = "Session not found"
SESSION_HEADER = b"mcp-session-id"  # Streamable HTTP's, and on `GET /sse` too, for balancers that learn it


def credential(scope: Scope) -> str | None:
    """The credential id the security layer found for this request (None: auth is off)."""
    state = scope.get("state")
    return state.get(CREDENTIAL_ID) if state else None


async def open_session(registry: Registry, label: str, default: Callable[[], D], scope: Scope) -> Session[D]:
    """A new session for this request, or the `HttpError` that says why not."""
    try:
        return await registry.open(label, default, Headers.of(scope).text(), credential(scope))
    except Unavailable as exc:
        raise HttpError(503, f"Service unavailable: {exc}", code=jsonrpc.INTERNAL_ERROR,
                        headers=[(b"retry-after", b"5")], reason=exc.reason) from None
    except OSError as exc:
        log.error("could not start the child: %s", exc)
        raise HttpError(500, "Could not start the server process", code=jsonrpc.INTERNAL_ERROR,
                        reason="spawn_failed") from None


def client_messages(value: Any, body: bytes, session: Session[Any]) -> list[ClientMessage]:
    """The messages of a POST body (a batch split where the child's version allows one); 400 otherwise."""
    if not isinstance(value, list):
        check_message(value)
        return [(value, body)]
    if not session.accepts_batches():
        raise HttpError(400, f"Batches are not supported at protocol version {session.protocol_version}")
    if not value:
        raise HttpError(400, "Invalid Request: empty batch")
    members = codec.split_array(body)
    if len(members) != len(value):  # cannot happen for valid JSON; never guess which bytes are which
        members = [codec.dumps(message) for message in value]
    for message in value:
        check_message(message)
    return list(zip(value, members, strict=True))


def check_message(message: Any) -> None:
    """400 for a message routing cannot rely on, before anything of it reaches the child."""
    problem = jsonrpc.problem(message)
    if problem is not None:
        raise HttpError(400, f"Invalid Request: {problem}", id_=safe_id(message))


def safe_id(message: object) -> object:
    """The id to echo in an error about this message: its own if valid, else null."""
    id_ = message.get("id") if isinstance(message, dict) else None
    return id_ if jsonrpc.valid_id(id_) else None


def session_not_found(registry: Registry, session_id: str) -> HttpError:
    """The fast 404 for an id naming no live session here, counted by why (another replica's,
    ended here, never given); clients then initialize again, as the specification says."""
    return HttpError(404, SESSION_NOT_FOUND, reason=registry.why_missing(session_id))


async def submit_all(session: Session[Any], messages: list[ClientMessage], dest: Destination) -> None:
    """Hand every message to the child; the errors a client can be told, as `HttpError`s."""
    try:
        for message, raw in messages:
            await session.submit(message, raw, dest)
    except SessionEnded:
        raise HttpError(404, SESSION_NOT_FOUND) from None
    except ChildNotReading:
        raise HttpError(503, "The server process is not reading its input", code=jsonrpc.INTERNAL_ERROR,
                        headers=[(b"retry-after", b"5")], reason="child_not_reading") from None


async def refuse(metrics: BridgeMetrics, send: Send, error: HttpError | ClientDisconnected) -> None:
    """Send the error answer and count it; a client that left gets nothing and costs a debug line."""
    if isinstance(error, ClientDisconnected):
        log.debug("client left before its request was read")
        return
    metrics.http_error(error.status, error.reason)
    await error.send(send)
