"""A well-behaved stdio MCP child for the reliability suite: standard library only (run it with
`python -S`), cheap to start, and never thrown off by odd input.

One JSON-RPC message per line on stdin and stdout. Every request gets an answer at once (unknown
methods -32601, odd shapes -32602/-32600), except `hold`, which answers later from its own thread.
Notifications and responses from the client are read and ignored. A line that is not JSON gets a
-32700 error with id null, as a JSON-RPC server would send.

Tools (`tools/call`; a result is one text block):
- `echo`: its `text` argument back.
- `blob`: `tag` + "|" + `n` bytes of a fixed ASCII pattern (see `blob_text`): a large result
  that still names the call it answers.
- `hold`: a progress note on the caller's progressToken (a `notifications/message` when it gave
  none), then waits: until the FIFO at `fifo` is opened for writing and closed, or `seconds`, or
  forever; then answers "released <tag>".
- `pid`: this process's pid.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
PATTERN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_+=()[]{}!?<>/|~"

_lock = threading.Lock()
_out = sys.stdout.buffer


def blob_text(tag: str, n: int) -> str:
    return tag + "|" + (PATTERN * (n // len(PATTERN) + 1))[:n]


def write(message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    with _lock:
        _out.write(data)
        _out.flush()


def text_result(id_: Any, text: str) -> None:
    write({"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": text}], "isError": False}})


def error(id_: Any, code: int, message: str) -> None:
    write({"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}})


def hold(id_: Any, args: dict[str, Any], token: Any) -> None:
    tag = str(args.get("tag", ""))
    if token is not None:
        write({"jsonrpc": "2.0", "method": "notifications/progress",
               "params": {"progressToken": token, "progress": 0, "message": f"holding {tag}"}})
    else:
        write({"jsonrpc": "2.0", "method": "notifications/message",
               "params": {"level": "info", "data": f"holding {tag}"}})
    fifo = args.get("fifo")
    seconds = args.get("seconds")
    if isinstance(fifo, str):
        with open(fifo, "rb") as gate:  # blocks until the test opens it for writing
            gate.read()  # returns at EOF: the test closed its end
    else:
        threading.Event().wait(float(seconds) if isinstance(seconds, (int, float)) else None)
    text_result(id_, f"released {tag}")


def call_tool(id_: Any, params: dict[str, Any]) -> None:
    name = params.get("name")
    args = params.get("arguments")
    args = args if isinstance(args, dict) else {}
    meta = params.get("_meta")
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    if name == "echo":
        text_result(id_, str(args.get("text", "")))
    elif name == "blob":
        n = args.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 64 * 1024 * 1024:
            error(id_, -32602, "blob needs 0 <= n <= 64 MiB")
            return
        text_result(id_, blob_text(str(args.get("tag", "")), n))
    elif name == "hold":
        threading.Thread(target=hold, args=(id_, args, token), daemon=True).start()
    elif name == "pid":
        text_result(id_, str(os.getpid()))
    else:
        error(id_, -32602, f"unknown tool {name!r}")


def handle(message: Any) -> None:
    if not isinstance(message, dict):
        error(None, -32600, "Invalid Request")
        return
    method = message.get("method")
    if "id" not in message or not isinstance(method, str):
        return  # a notification, a response, or something else without an answer
    id_ = message["id"]
    params = message.get("params")
    params = params if isinstance(params, dict) else {}
    if method == "initialize":
        asked = params.get("protocolVersion")
        write({"jsonrpc": "2.0", "id": id_, "result": {
            "protocolVersion": asked if asked in VERSIONS else VERSIONS[-1],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "steady", "version": "1.0"},
        }})
    elif method == "ping":
        write({"jsonrpc": "2.0", "id": id_, "result": {}})
    elif method == "tools/list":
        write({"jsonrpc": "2.0", "id": id_, "result": {"tools": [
            {"name": name, "inputSchema": {"type": "object"}} for name in ("echo", "blob", "hold", "pid")
        ]}})
    elif method == "tools/call":
        call_tool(id_, params)
    else:
        error(id_, -32601, f"Method not found: {method[:100]}")


def main() -> None:
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            error(None, -32700, "Parse error")
            continue
        try:
            handle(message)
        except Exception as exc:  # never die of odd input: answer what can be answered
            if isinstance(message, dict) and "id" in message:
                error(message["id"], -32603, f"internal error: {type(exc).__name__}")


if __name__ == "__main__":
    main()
