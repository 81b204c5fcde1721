"""A stdio MCP child that goes deaf: it answers `initialize`, reads up to `notifications/initialized`,
then never reads stdin again (it sleeps until a signal ends it), so the bridge's writes to it block
once the pipe is full. Standard library only; run it with `sys.executable`.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("method") == "initialize":
            answer = {"jsonrpc": "2.0", "id": message.get("id"), "result": {
                "protocolVersion": message.get("params", {}).get("protocolVersion", "2025-11-25"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "deaf", "version": "1.0"},
            }}
            out.write(json.dumps(answer).encode() + b"\n")
            out.flush()
        elif message.get("method") == "notifications/initialized":
            break
    while True:  # deaf from here on: stdin is never read again
        time.sleep(3600)


if __name__ == "__main__":
    main()
