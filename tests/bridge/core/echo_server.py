"""A tiny stdio MCP server for the bridge's own tests, speaking raw newline-delimited JSON-RPC.

Run as `python -m tests.bridge.core.echo_server`. Tools (all via `tools/call`):
`echo` (returns `text`), `methods` (every method it received), `pid` (its pid and `ECHO_TAG` env var), `slow` (answers after `seconds`,
or never when absent; a `notifications/cancelled` for it is recorded), `cancelled` (the ids
recorded so far), `crash` (writes to stderr, exits with code 3), `noise` (writes a non-JSON line,
then answers), `big` (a text of `size` bytes), `huge_line` (writes one stdout line of `size`
bytes that is not an answer), `progress` (`count` progress notes with the caller's token, `interval` seconds apart),
`flood` (`count` log notes of `size` bytes, then the answer), `later` (answers, then writes `count` log notes `seconds` apart, which belong to no request),
`notify` (a `notifications/message` before the answer), `spawn` (starts a grandchild
`sleep 300` in the child's process group and returns its pid).
`ECHO_PROTOCOL` forces the negotiated protocol version; `ECHO_IGNORE_STDIN_EOF=1` keeps running
after stdin closes (and ignores SIGTERM) so the bridge must escalate to SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_cancelled: list[Any] = []
_events: dict[Any, threading.Event] = {}
_seen: list[str] = []


def write(message: dict[str, Any]) -> None:
    data = json.dumps(message) + "\n"
    with _lock:
        sys.stdout.write(data)
        sys.stdout.flush()


def write_raw(text: str) -> None:
    with _lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def result(id_: Any, text: str) -> None:
    write({"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": text}], "isError": False}})


def call_tool(id_: Any, params: dict[str, Any]) -> None:
    name = params.get("name")
    args = params.get("arguments") or {}
    token = (params.get("_meta") or {}).get("progressToken")
    if name == "echo":
        result(id_, str(args.get("text", "")))
    elif name == "pid":
        result(id_, json.dumps({"pid": os.getpid(), "tag": os.environ.get("ECHO_TAG", "")}))
    elif name == "slow":
        event = _events.setdefault(id_, threading.Event())
        seconds = args.get("seconds")
        if event.wait(timeout=float(seconds) if seconds is not None else None):
            return  # cancelled: no answer
        result(id_, f"slept {seconds}")
    elif name == "cancelled":
        result(id_, json.dumps(_cancelled))
    elif name == "methods":
        result(id_, json.dumps(_seen))
    elif name == "crash":
        sys.stderr.write("about to crash: last words\n")
        sys.stderr.flush()
        os._exit(3)
    elif name == "noise":
        write_raw("this is not json {")
        write_raw("")
        result(id_, "after noise")
    elif name == "big":
        result(id_, "x" * int(args.get("size", 0)))
    elif name == "huge_line":
        write_raw(json.dumps({"jsonrpc": "2.0", "method": "notifications/message",
                              "params": {"level": "info", "data": "y" * int(args.get("size", 0))}}))
        result(id_, "after huge line")
    elif name == "progress":
        for i in range(int(args.get("count", 3))):
            write({"jsonrpc": "2.0", "method": "notifications/progress",
                   "params": {"progressToken": token, "progress": i + 1, "total": args.get("count", 3)}})
            time.sleep(float(args.get("interval", 0)))
        result(id_, "progress done")
    elif name == "flood":
        for i in range(int(args.get("count", 100))):
            write({"jsonrpc": "2.0", "method": "notifications/message",
                   "params": {"level": "info", "data": f"{i}:" + "x" * int(args.get("size", 65536))}})
        result(id_, "flooded")
    elif name == "later":
        result(id_, "later")
        for i in range(int(args.get("count", 1))):
            time.sleep(float(args.get("seconds", 0.2)))
            write({"jsonrpc": "2.0", "method": "notifications/message",
                   "params": {"level": "info", "data": f"later {i}"}})
    elif name == "notify":
        write({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "note"}})
        result(id_, "notified")
    elif name == "spawn":
        grandchild = subprocess.Popen(["sleep", "300"])
        result(id_, str(grandchild.pid))
    else:
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32602, "message": f"unknown tool {name}"}})


def handle(message: dict[str, Any]) -> None:
    method = message.get("method")
    id_ = message.get("id")
    params = message.get("params") or {}
    if isinstance(method, str):
        _seen.append(method)
    if method == "initialize":
        version = os.environ.get("ECHO_PROTOCOL") or params.get("protocolVersion", "2025-11-25")
        write({"jsonrpc": "2.0", "id": id_, "result": {
            "protocolVersion": version,
            "capabilities": {"tools": {}, "logging": {}},
            "serverInfo": {"name": "echo", "version": "1.0"},
        }})
    elif method == "tools/list":
        write({"jsonrpc": "2.0", "id": id_, "result": {"tools": [
            {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
        ]}})
    elif method == "ping":
        write({"jsonrpc": "2.0", "id": id_, "result": {}})
    elif method == "tools/call":
        threading.Thread(target=call_tool, args=(id_, params), daemon=True).start()
    elif method == "notifications/cancelled":
        request_id = params.get("requestId")
        _cancelled.append(request_id)
        _events.setdefault(request_id, threading.Event()).set()
    elif method == "server/discover":
        write({"jsonrpc": "2.0", "id": id_, "result": {"this must": "never be forwarded"}})
    elif id_ is not None and method is not None:
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": "Method not found"}})


def main() -> None:
    stubborn = os.environ.get("ECHO_IGNORE_STDIN_EOF") == "1"
    if stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for line in sys.stdin:
        if line.strip():
            handle(json.loads(line))
    while stubborn:
        time.sleep(1)


if __name__ == "__main__":
    main()
