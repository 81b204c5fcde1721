"""A tiny handshake-era stdio server for the 2026-07-28 shaping tests: what full-protocol does not do.

Run as `python -m tests.bridge.modern.paged_server` (from the repository root); with
`PAGED_DUAL_ERA=1` it is a dual-era server (the era of its first request), as the `mcp` SDK's are.
- `tools/list` in two pages: page one (`echo`) ends with `nextCursor` "page-2", page two (`pid`) with none;
  any other cursor is -32602.
- `resources/list` lists `test://paged/one`; `resources/read` of any other URI is -32002, the
  handshake era's "resource not found".
- tool `pid`: this process's pid; tool `echo`: its arguments; tool `meta`: the keys of the request's
  `_meta` as this server received them, and its progress token; tools `gate` and `open` as in
  full-protocol (a request held in flight until `open` names its gate; see `wire.hold`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from tests.servers.stdio import run

Ctx = ServerRequestContext[Any, Any]
RESOURCE_NOT_FOUND = -32002
PAGES: dict[str | None, tuple[str, str | None]] = {None: ("echo", "page-2"), "page-2": ("pid", None)}
URI = "test://paged/one"


async def _list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    cursor = params.cursor if params else None
    if cursor not in PAGES:
        raise MCPError(code=types.INVALID_PARAMS, message=f"unknown cursor {cursor!r}")
    name, after = PAGES[cursor]
    tool = types.Tool(name=name, input_schema={"type": "object", "additionalProperties": True})
    return types.ListToolsResult(tools=[tool], next_cursor=after)


GATES: dict[str, anyio.Event] = {}
GATE_LIMIT = 120.0


async def _call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    value: Any = dict(params.arguments or {})
    if params.name in ("gate", "open"):
        name = str(value.get("name"))
        gate = GATES.setdefault(name, anyio.Event())
        if params.name == "open":
            gate.set()
            return types.CallToolResult(content=[], structured_content={"opened": name})
        await ctx.session.report_progress(0, None, "waiting")
        with anyio.fail_after(GATE_LIMIT):
            await gate.wait()
        return types.CallToolResult(content=[], structured_content={"gate": name, "passed": True})
    if params.name == "pid":
        value = {"pid": os.getpid()}
    elif params.name == "meta":
        meta = dict(params.meta or {})
        value = {"keys": sorted(meta), "progress_token": meta.get("progress_token", meta.get("progressToken"))}
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(value))])


async def _list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=[types.Resource(uri=URI, name="one")])


async def _read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    if str(params.uri) != URI:
        raise MCPError(code=RESOURCE_NOT_FOUND, message=f"Resource not found: {params.uri}")
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=URI, text="one")])


def main() -> None:
    run(Server("paged", version="2.0.0", on_list_tools=_list_tools, on_call_tool=_call_tool,
               on_list_resources=_list_resources, on_read_resource=_read_resource),
        dual_era=bool(os.environ.get("PAGED_DUAL_ERA")))


if __name__ == "__main__":
    main()
