"""A stdio MCP child that records every line it reads and writes, byte for byte, and answers
`tools/call` with crafted raw lines (bytes written as they are, never through `json.dumps`).
Standard library only; run it with `sys.executable recorder.py RECORD_FILE`.

RECORD_FILE gets `< ` + each stdin line and `> ` + each stdout line, without the newline (a line
holds none, so the file splits on newlines); a line is recorded before it is handled or written.
Requests: `initialize` (the client's protocol version back), `ping`, `tools/list`, and `tools/call`:
- `echo`: its `text` back (an ordinary answer).
- `hold`: never answered (a `notifications/cancelled` for it is recorded like every other line).
- a name in `VARIANTS`: first the notification `note_line(name)`, then the answer
  `answer_head(name) + <the request's id> + ANSWER_TAIL`.
A line that is not JSON (say, a fragment of a message split across lines) is recorded, then ignored.

The test imports this module for the crafted bytes, so the child and its test share one definition.
"""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO

# Valid JSON that a decode-and-encode round trip does not give back: escapes (`\/`, `\u00e9`, a
# surrogate pair, `\u0000`), integers beyond 64 bits, floats written `1.0` and `1.0E+2`, a duplicate
# key, keys out of order, and spaces where compact output has none; each variant adds one more kind.
ESCAPES = rb'"caf\u00e9 \ud83d\ude00 \/ \u0000 \"q\" \\ \t"'
VARIANTS: dict[str, bytes] = {
    "crafted": b"",
    "crafted_deep": b',"deep":' + b"[" * 300 + b"]" * 300,  # a 300-level array
    # numbers out of the range of a double: valid JSON (RFC 8259 leaves their range open)
    "crafted_exponent": rb',"huge":1e400,"tiny":-2.5E-400',
}
ANSWER_TAIL = rb' , "jsonrpc":"2.0"}'


def content(tool: str) -> bytes:
    """The JSON object the messages of the `VARIANTS` tool `tool` carry."""
    return (rb'{"zeta" : 18446744073709551617,"alpha":-18446744073709551617, "one":1.0,"hundred":1.0E+2,'
            rb'"text":' + ESCAPES + rb',"dup":{"a":1,"a":2}' + VARIANTS[tool] + b"}")


def note_line(tool: str) -> bytes:
    """The notification the child writes before it answers `tool` (method last, params first)."""
    return rb'{"params":{"level":"info","data":' + content(tool) + rb'} ,"method":"notifications/message","jsonrpc":"2.0"}'


def answer_head(tool: str) -> bytes:
    """The answer to `tool` up to its id (the id sits between the result and `jsonrpc`)."""
    return (rb'{"result" : {"content":[{"type":"text","text":' + ESCAPES + rb'}],"isError":false,'
            rb'"extra":' + content(tool) + rb'},  "id" : ')


class Child:
    def __init__(self, record: BinaryIO) -> None:
        self.record = record
        self.out = sys.stdout.buffer

    def emit(self, line: bytes) -> None:
        self.record.write(b"> " + line + b"\n")
        self.out.write(line + b"\n")
        self.out.flush()

    def answer(self, id_: Any, result: dict[str, Any]) -> None:
        self.emit(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}).encode())

    def handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if "id" not in message or not isinstance(method, str):
            return  # notifications (recorded already) and responses
        id_ = message["id"]
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if method == "initialize":
            self.answer(id_, {"protocolVersion": params.get("protocolVersion", "2025-11-25"),
                              "capabilities": {"tools": {}, "logging": {}},
                              "serverInfo": {"name": "recorder", "version": "1.0"}})
        elif method == "ping":
            self.answer(id_, {})
        elif method == "tools/list":
            self.answer(id_, {"tools": [{"name": name, "inputSchema": {"type": "object"}}
                                        for name in ("echo", "hold", *VARIANTS)]})
        elif method == "tools/call":
            name = params.get("name")
            arguments = params.get("arguments")
            arguments = arguments if isinstance(arguments, dict) else {}
            if name == "echo":
                self.answer(id_, {"content": [{"type": "text", "text": str(arguments.get("text", ""))}],
                                  "isError": False})
            elif isinstance(name, str) and name in VARIANTS:
                self.emit(note_line(name))
                self.emit(answer_head(name) + json.dumps(id_).encode() + ANSWER_TAIL)
            elif name != "hold":
                self.emit(json.dumps({"jsonrpc": "2.0", "id": id_,
                                      "error": {"code": -32602, "message": f"unknown tool {name!r}"}}).encode())
        else:
            self.emit(json.dumps({"jsonrpc": "2.0", "id": id_,
                                  "error": {"code": -32601, "message": "Method not found"}}).encode())


def main() -> None:
    with open(sys.argv[1], "ab", buffering=0) as record:
        child = Child(record)
        for raw in sys.stdin.buffer:
            line = raw[:-1] if raw.endswith(b"\n") else raw
            record.write(b"< " + line + b"\n")
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                child.handle(message)


if __name__ == "__main__":
    main()
