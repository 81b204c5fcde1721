"""A stdio MCP child that misbehaves on request, for the reliability suite's fault tests (standard
library only; run it with `python -S`). It behaves until a tool asks it not to, so a healthy session
and a faulty one run the same command on one bridge.

`initialize` is answered, unless the client's `clientInfo.name` is "mute": then never.
Tools (`tools/call`):
- `echo`: its `text` back (the healthy path).
- `garbage`: writes `GARBAGE` (lines that are not JSON, bad UTF-8, JSON that is no message,
  answers to ids the bridge never sent...; with `kind: "tokens"`, `ODD_TOKENS`: progress notes
  whose token is a list or an object), then a notification ending in CRLF, then answers
  "after garbage".
- `endless`: writes one stdout line that never ends (64 KiB chunks, no newline) until stdout breaks.
- `mute`: never answers (the child keeps reading and answering other requests).
- `exit_mid_stream`: `count` progress notes on the caller's token, half a JSON line without its
  newline, "last words" on stderr, then exits with code 7.
- `stubborn`: from now on ignores SIGTERM and stdin EOF (only SIGKILL ends it); answers its pid.
- `fork`: starts grandchildren that inherit its stdout and stderr: `sleep 300`, and a Python one that
  ignores SIGTERM; answers their pids as JSON.
- `crash`: exits at once with code 5 (say, after `fork`: the grandchildren still hold the pipes).
- `flood`: a thread writes numbered stderr lines as fast as it can until the child ends; with
  `newlines: false`, one endless stderr line instead. Answers at once.
- `pid`: this process's pid.
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
_out = sys.stdout.buffer
_stubborn = threading.Event()

GARBAGE: list[bytes] = [
    b"this is not json {",
    b"\xff\xfe\x00 bad utf-8 \xc3\x28",
    b'{"jsonrpc": "2.0", "id": 1, "result": "\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8
    b"42",
    b'"a string"',
    b"null",
    b"[]",
    b"[1, 2, 3]",
    b"{}",
    b'{"jsonrpc": "2.0", "id": 999999, "result": {}}',  # an answer to an id never sent
    b'{"jsonrpc": "2.0", "id": "1", "result": {}}',  # a string id: the bridge sent ints
    b'{"jsonrpc": "2.0", "id": [1], "result": {}}',
    b'{"jsonrpc": "2.0", "id": {"a": 1}, "error": {"code": 1, "message": "x"}}',
    b'{"jsonrpc": "2.0", "method": "notifications/progress", "params": ["not", "an", "object"]}',
    b"   \t  ",
    b"\x00\x00\x00",
    b'{"jsonrpc": "2.0", "id": 1, "result": {}',  # truncated
    b"[" * 5000 + b"]" * 5000,  # nesting deeper than any parser allows
    b"1" * 5000,  # a number too large for anything
]
ODD_TOKENS: list[bytes] = [  # JSON-RPC messages, but their progress tokens are not a string or number
    b'{"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": [1], "progress": 1}}',
    b'{"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": {"t": 1}, "progress": 1}}',
]


def write_raw(data: bytes) -> None:
    with _lock:
        _out.write(data)
        _out.flush()


def write(message: dict[str, Any]) -> None:
    write_raw(json.dumps(message).encode() + b"\n")


def text_result(id_: Any, text: str) -> None:
    write({"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": text}], "isError": False}})


def progress(token: Any, n: int) -> None:
    write({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": n}})


def endless() -> None:
    chunk = b"x" * 65536
    try:
        while True:
            write_raw(chunk)
    except (BrokenPipeError, OSError):
        os._exit(0)


def flood(newlines: bool) -> None:
    err = sys.stderr.buffer
    n = 0
    try:
        while True:
            n += 1
            err.write(b"flood line %d\n" % n if newlines else b"flood without end " * 1000)
            if n % 100 == 0:
                err.flush()
    except (BrokenPipeError, OSError):
        return


def fork() -> list[int]:
    ignoring = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    kids = [subprocess.Popen(["sleep", "300"]), subprocess.Popen([sys.executable, "-S", "-c", ignoring])]
    return [kid.pid for kid in kids]


def call_tool(id_: Any, params: dict[str, Any]) -> None:
    name = params.get("name")
    args = params.get("arguments") or {}
    token = (params.get("_meta") or {}).get("progressToken")
    if name == "echo":
        text_result(id_, str(args.get("text", "")))
    elif name == "garbage":
        for line in ODD_TOKENS if args.get("kind") == "tokens" else GARBAGE:
            write_raw(line + b"\n")
        write_raw(b'{"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "crlf"}}\r\n')
        text_result(id_, "after garbage")
    elif name == "endless":
        threading.Thread(target=endless, daemon=True).start()
    elif name == "mute":
        pass
    elif name == "exit_mid_stream":
        for n in range(int(args.get("count", 3))):
            progress(token, n + 1)
        write_raw(b'{"jsonrpc": "2.0", "id": ' + json.dumps(id_).encode() + b', "result": {"content": [{"ty')
        sys.stderr.write("exit_mid_stream: last words\n")
        sys.stderr.flush()
        os._exit(7)
    elif name == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stubborn.set()
        text_result(id_, str(os.getpid()))
    elif name == "fork":
        text_result(id_, json.dumps(fork()))
    elif name == "crash":
        os._exit(5)
    elif name == "flood":
        threading.Thread(target=flood, args=(bool(args.get("newlines", True)),), daemon=True).start()
        text_result(id_, "flooding")
    elif name == "pid":
        text_result(id_, str(os.getpid()))
    else:
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32602, "message": f"unknown tool {name!r}"}})


def handle(message: dict[str, Any]) -> None:
    method = message.get("method")
    id_ = message.get("id")
    params = message.get("params") or {}
    if method == "initialize":
        if (params.get("clientInfo") or {}).get("name") == "mute":
            return
        write({"jsonrpc": "2.0", "id": id_, "result": {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "faulty", "version": "1.0"},
        }})
    elif method == "ping":
        write({"jsonrpc": "2.0", "id": id_, "result": {}})
    elif method == "tools/call":
        call_tool(id_, params)
    elif id_ is not None and method is not None:
        write({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": "Method not found"}})


def main() -> None:
    for line in sys.stdin.buffer:
        if line.strip():
            handle(json.loads(line))
    while _stubborn.is_set():  # stdin closed, and still running
        time.sleep(1)


if __name__ == "__main__":
    main()
