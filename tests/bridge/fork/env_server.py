"""A tiny stdio MCP server for the `--fork-server` tests: what its own process is and has.

Run as `python -m tests.bridge.fork.env_server` (from the repository root). Tools, each answering
one JSON text block:
- `env`: the value of the variable `name` in this process's `os.environ` (null when unset).
- `environ`: the variables of `os.environ` whose names start with `prefix` (all by default).
- `loaded`: whether the module `name` is imported in this process, and its `CALLS` if it has one.
- `ids`: this process's pid, parent pid, process group and session.
- `process`: how the program sees itself started: `sys.argv`, `sys.path`, the working directory,
  the kernel's process name, the disposition of the common signals, the running threads, the open
  file descriptors.
- `random`: `random.random()` and 16 bytes of `os.urandom`, hex.
- `crash`: writes a last line to stderr, then exits with code 3 without answering.

Like the servers a bridge wraps, it reads nothing at import and runs only from `main`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from tests.servers.stdio import run

Ctx = ServerRequestContext[Any, Any]
CRASH_CODE = 3
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1)


def _text(value: Any) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(value))])


def _disposition(handler: Any) -> str:
    """`SIG_DFL`, `SIG_IGN`, or the kind of Python handler (no address: comparable across processes)."""
    if isinstance(handler, signal.Handlers):
        return handler.name
    return str(getattr(handler, "__qualname__", type(handler).__name__))


def _open_files() -> dict[int, str]:
    """This process's open file descriptors and what each is (`pipe`, `socket`, `anon_inode:...`,
    or a path), the kind only for pipes and sockets, whose inode numbers differ from run to run."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{entry}")
        except OSError:  # the directory's own fd, closed by now
            continue
        found[int(entry)] = target.split(":[", 1)[0] if target.startswith(("pipe:", "socket:")) else target
    return dict(sorted(found.items()))


def _tool(name: str, args: dict[str, Any]) -> Any:
    if name == "env":
        return os.environ.get(str(args.get("name", "")))
    if name == "environ":
        prefix = str(args.get("prefix", ""))
        return {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefix)}
    if name == "loaded":
        module = sys.modules.get(str(args.get("name", "")))
        return {"loaded": module is not None, "calls": getattr(module, "CALLS", None)}
    if name == "ids":
        return {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "sid": os.getsid(0)}
    if name == "process":
        with open("/proc/self/comm") as comm:
            name_of_process = comm.read().strip()
        signals = {sig.name: _disposition(signal.getsignal(sig)) for sig in SIGNALS}
        return {"argv": sys.argv, "path": sys.path, "cwd": os.getcwd(), "comm": name_of_process,
                "signals": signals, "threads": threading.active_count(), "main": sys.modules["__main__"].__file__,
                "fds": _open_files()}
    if name == "random":
        return {"random": random.random(), "urandom": os.urandom(16).hex()}
    if name == "crash":
        sys.stderr.write("env_server: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(CRASH_CODE)
    raise MCPError(code=types.INVALID_PARAMS, message=f"unknown tool {name!r}")


TOOLS = {
    "env": {"type": "object", "properties": {"name": {"type": "string"}}},
    "environ": {"type": "object", "properties": {"prefix": {"type": "string"}}},
    "loaded": {"type": "object", "properties": {"name": {"type": "string"}}},
    "ids": {"type": "object", "properties": {}},
    "process": {"type": "object", "properties": {}},
    "random": {"type": "object", "properties": {}},
    "crash": {"type": "object", "properties": {}},
}


async def _list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[types.Tool(name=n, input_schema=s) for n, s in TOOLS.items()])


async def _call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    return _text(_tool(params.name, dict(params.arguments or {})))


def main() -> None:
    run(Server("fork-env", version="1.0.0", on_list_tools=_list_tools, on_call_tool=_call_tool))


if __name__ == "__main__":
    main()
