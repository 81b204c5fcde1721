"""The JSON-RPC messages of the bench, written by hand (no SDK), the same bytes for every transport."""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = "2025-06-18"


class ProtocolError(RuntimeError):
    """The other side answered something the bench did not ask for."""


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def initialize(request_id: int) -> bytes:
    return _encode(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1.0"},
            },
        }
    )


def initialized() -> bytes:
    return _encode({"jsonrpc": "2.0", "method": "notifications/initialized"})


def request(request_id: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return _encode(message)


def call_tool(request_id: int, name: str, arguments: dict[str, Any]) -> bytes:
    return request(request_id, "tools/call", {"name": name, "arguments": arguments})


def decode(raw: bytes | str) -> dict[str, Any]:
    message = json.loads(raw)
    if not isinstance(message, dict):
        raise ProtocolError(f"expected one JSON-RPC object, got {type(message).__name__}")
    return message


def is_response_to(message: dict[str, Any], request_id: int) -> bool:
    """True for the response (result or error) carrying exactly `request_id` (1 is not "1")."""
    got = message.get("id")
    return "method" not in message and type(got) is int and got == request_id


def result_of(message: dict[str, Any]) -> dict[str, Any]:
    if "error" in message:
        raise ProtocolError(f"JSON-RPC error: {message['error']}")
    result = message.get("result")
    if not isinstance(result, dict):
        raise ProtocolError(f"response without a result object: {str(message)[:200]}")
    return result


def tool_text(message: dict[str, Any]) -> str:
    """The text of a tools/call result with one text item; a tool error is a ProtocolError."""
    result = result_of(message)
    content = result.get("content")
    if result.get("isError") or not isinstance(content, list) or not content:
        raise ProtocolError(f"tool failed: {str(result)[:300]}")
    text = content[0].get("text") if isinstance(content[0], dict) else None
    if not isinstance(text, str):
        raise ProtocolError("tool result without text")
    return text
