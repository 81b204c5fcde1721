"""A minimal stdio MCP server, standard library only, so the bench measures the bridge and not the child.

One JSON-RPC message per line on stdin and stdout, stdout flushed after every line. It answers
`initialize`, `ping`, `tools/list` and `tools/call` for two tools: `echo` (its `text` back) and
`blob` (`n` bytes of deterministic ASCII text, see `blob_text`). Notifications and responses from
the client are read and ignored.

Run it as a script (`python -S bench/echo_server.py`); the bench imports `blob_text` from here to
check results byte for byte.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
_PATTERN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_+=()[]{}!?<>/|~"

TOOLS = [
    {
        "name": "echo",
        "description": "Returns its text argument unchanged.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
    {
        "name": "blob",
        "description": "Returns n bytes of deterministic ASCII text.",
        "inputSchema": {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0}},
            "required": ["n"],
        },
    },
]


def blob_text(n: int) -> str:
    """`n` characters (and bytes: the pattern is ASCII with nothing JSON must escape)."""
    repeats = n // len(_PATTERN) + 1
    return (_PATTERN * repeats)[:n]


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _initialize(params: dict[str, Any]) -> dict[str, Any]:
    asked = params.get("protocolVersion")
    version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1]
    return {
        "result": {
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "bench-echo", "version": "1.0"},
        }
    }


def _call_tool(params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    args = params.get("arguments") or {}
    if name == "echo" and isinstance(args.get("text"), str):
        text = args["text"]
    elif name == "blob" and isinstance(args.get("n"), int) and args["n"] >= 0:
        text = blob_text(args["n"])
    else:
        return _error(-32602, f"unknown tool or bad arguments: {name!r}")
    return {"result": {"content": [{"type": "text", "text": text}], "isError": False}}


def answer(message: Any) -> dict[str, Any] | None:
    """The reply to one decoded message, or None when it needs none (notification, response)."""
    if not isinstance(message, dict) or "method" not in message:
        return None
    if "id" not in message:
        return None
    method = message["method"]
    params = message.get("params") or {}
    if method == "initialize":
        body = _initialize(params)
    elif method == "ping":
        body = {"result": {}}
    elif method == "tools/list":
        body = {"result": {"tools": TOOLS}}
    elif method == "tools/call":
        body = _call_tool(params)
    else:
        body = _error(-32601, f"method not found: {method}")
    return {"jsonrpc": "2.0", "id": message["id"], **body}


def main() -> None:
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    while line := stdin.readline():
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            reply: dict[str, Any] | None = {"jsonrpc": "2.0", "id": None, **_error(-32700, "parse error")}
        else:
            reply = answer(message)
        if reply is not None:
            stdout.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            stdout.flush()


if __name__ == "__main__":
    main()
