"""The few JSON-RPC facts the pump reads from a message, and the error bodies the bridge writes.

Messages stay plain dicts from one `codec.loads`; nothing here builds a model per message.
"""

from __future__ import annotations

from typing import Any, Final, TypeGuard

from bridge import codec

Message = dict[str, Any]
RequestId = int | str

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INTERNAL_ERROR: Final = -32603
CONNECTION_CLOSED: Final = -32000
REQUEST_TIMEOUT: Final = -32001
REQUEST_CANCELLED: Final = -32800  # as LSP names it: JSON-RPC itself has no code for a cancel
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022

# Versions a child can negotiate through `initialize`; batches exist only in the first two.
HANDSHAKE_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
BATCH_VERSIONS: Final = frozenset({"2024-11-05", "2025-03-26"})
PRIMING_SINCE: Final = "2025-11-25"  # the first version whose clients expect a priming SSE event

INITIALIZE: Final = "initialize"
DISCOVER: Final = "server/discover"
CANCELLED: Final = "notifications/cancelled"
PROGRESS: Final = "notifications/progress"


def is_request(message: Message) -> bool:
    return "id" in message and isinstance(message.get("method"), str)


def valid_id(value: object) -> TypeGuard[RequestId]:
    """A request id MCP allows: a string or an integer (never a bool, float, null or structure)."""
    return type(value) is str or type(value) is int


def problem(message: object) -> str | None:
    """Why a client message cannot be forwarded, or None; only the fields routing relies on are checked."""
    if not isinstance(message, dict):
        return "expected a JSON-RPC message object"
    if "method" in message:
        if not isinstance(message["method"], str):
            return "method must be a string"
        if "id" in message and not valid_id(message["id"]):
            return "a request id must be a string or an integer"
    elif "id" not in message or not ("result" in message or "error" in message):
        return "expected a request, a notification or a response"
    return None


def progress_token(message: Message) -> object | None:
    """The `params._meta.progressToken` of a request, or the `params.progressToken` of a progress note."""
    params = message.get("params")
    if not isinstance(params, dict):
        return None
    if message.get("method") == PROGRESS:
        token = params.get("progressToken")
    else:
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
    # Only a string or an integer can name a request's progress; anything else is forwarded, not indexed.
    return token if valid_id(token) else None


def error(id_: object, code: int, message: str, data: Any = None) -> bytes:
    """A JSON-RPC error object as bytes (`id` null when the request's id is unknown)."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return codec.dumps({"jsonrpc": "2.0", "id": id_, "error": err})


def cancelled(request_id: object, reason: str) -> bytes:
    return codec.dumps(
        {"jsonrpc": "2.0", "method": CANCELLED, "params": {"requestId": request_id, "reason": reason}}
    )
