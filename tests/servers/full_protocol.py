"""A stdio MCP server that exercises every direction of the 2025-era protocol, for tests.

Run it as `python -m tests.servers.full_protocol` (from the repository root). It speaks the
handshake era only (`initialize`), like the stdio servers the bridge wraps: a `server/discover`
probe gets an error, so a client falls back to `initialize`.

Tools (results are one JSON text block, also given as `structuredContent` when it is an object):
- `echo`: its arguments, unchanged.
- `sample`: sends `sampling/createMessage` with `prompt`; returns the client's model and text.
- `elicit`: sends `elicitation/create` with `message`; returns the client's action and content.
- `roots`: sends `roots/list`; returns the root URIs.
- `progress`: `n` progress notifications on the caller's progressToken, then `{"done": n}`.
- `log`: `notifications/message` (data `"<level> message"`, then ` <tag>` if given) at each of
  `levels` at or above the level set with `logging/setLevel` (all before that); returns the levels sent.
- `touch`: `notifications/resources/updated` for `uri` if subscribed; returns whether it was sent.
- `list_changed`: `notifications/tools/list_changed`.
- `slow`: reports progress 0 (so a caller knows it is running), then waits `seconds` (default:
  until cancelled); returns `{"tag": tag, "finished": true}`.
- `was_cancelled`: what happened to the `slow` call with `tag`: the request id the server saw, the
  ids named by `notifications/cancelled`, whether the call was interrupted.
- `gate`: reports progress 0, then waits until `open` is called with the same `name`; with
  `open`, two calls are in flight at once for as long as the caller likes, without timing.
- `open`: opens the gate `name`.
- `ping_client`: sends `ping` to the client.
- `big`: a JSON string of exactly `n` ASCII digits (no `structuredContent`, so it crosses once).
- `received`: the methods of every request and notification this server received, in order
  (so a test can tell whether a `server/discover` probe ever reached it).
- `whoami`: this process's pid and the value of env var `name` (default `FULL_PROTOCOL_TAG`).

One process serves one client session, so the per-session state lives in the lifespan state.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from tests.servers.stdio import run

# This server deliberately speaks the handshake era (logging, roots, sampling, subscribe).
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
RESOURCES = {
    "test://full/a": "contents of a",
    "test://full/b": "contents of b",
}
SLOW_LIMIT_SECONDS = 120.0
"""`slow` and `gate` give up after this long, so a server whose client vanished still ends."""


@dataclass
class Session:
    """What one client session has done so far."""

    log_level: types.LoggingLevel | None = None
    subscriptions: set[str] = field(default_factory=set)
    slow_ids: dict[str, types.RequestId | None] = field(default_factory=dict)
    interrupted: set[str] = field(default_factory=set)
    cancelled_ids: list[types.RequestId] = field(default_factory=list)
    gates: dict[str, anyio.Event] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)

    def gate(self, name: str) -> anyio.Event:
        return self.gates.setdefault(name, anyio.Event())


Ctx = ServerRequestContext[Session]
ToolFn = Callable[[Ctx, Session, dict[str, Any]], Awaitable[Any]]


def _result(value: Any) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(value))],
        structured_content=value if isinstance(value, dict) else None,
    )


def _arg(args: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """One tool argument, checked: a clear INVALID_PARAMS error instead of a crash."""
    value = args.get(name, default)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MCPError(
            code=types.INVALID_PARAMS, message=f"argument {name!r} has the wrong type or is missing"
        )
    return value


async def echo(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    return args


async def sample(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    message = types.SamplingMessage(role="user", content=types.TextContent(text=_arg(args, "prompt", str)))
    answer = await ctx.session.create_message([message], max_tokens=64, related_request_id=ctx.request_id)
    text = answer.content.text if isinstance(answer.content, types.TextContent) else None
    return {"model": answer.model, "text": text}


async def elicit(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    answer = await ctx.session.elicit_form(
        _arg(args, "message", str), schema, related_request_id=ctx.request_id
    )
    return {"action": answer.action, "content": answer.content}


async def roots(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    listed = await ctx.session.list_roots()
    return {"roots": [str(root.uri) for root in listed.roots]}


async def progress(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    n = _arg(args, "n", int, 3)
    for i in range(1, n + 1):
        await ctx.session.report_progress(i, n, f"step {i}")
    return {"done": n}


async def log(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    levels = _arg(args, "levels", list, ["debug", "info", "warning", "error"])
    floor = LEVELS.index(s.log_level) if s.log_level else 0
    tag = _arg(args, "tag", str, "")
    sent = [level for level in levels if level in LEVELS and LEVELS.index(level) >= floor]
    for level in sent:
        data = f"{level} message {tag}".rstrip()
        await ctx.session.send_log_message(level, data, "full_protocol", ctx.request_id)
    return {"sent": sent}


async def touch(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    uri = _arg(args, "uri", str)
    if uri in s.subscriptions:
        await ctx.session.send_resource_updated(uri)
    return {"notified": uri in s.subscriptions}


async def list_changed(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    await ctx.session.send_tool_list_changed()
    return {"sent": True}


async def slow(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    tag = _arg(args, "tag", str)
    seconds = _arg(args, "seconds", (int, float), SLOW_LIMIT_SECONDS)
    s.slow_ids[tag] = ctx.request_id
    await ctx.session.report_progress(0, None, "started")
    try:
        await anyio.sleep(min(seconds, SLOW_LIMIT_SECONDS))
    except anyio.get_cancelled_exc_class():
        s.interrupted.add(tag)
        raise
    return {"tag": tag, "finished": True}


async def was_cancelled(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    tag = _arg(args, "tag", str)
    request_id = s.slow_ids.get(tag)
    return {
        "tag": tag,
        "request_id": request_id,
        "cancelled_ids": s.cancelled_ids,
        "interrupted": tag in s.interrupted,
        "matched": request_id is not None
        and any(type(i) is type(request_id) and i == request_id for i in s.cancelled_ids),
    }


async def gate(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    name = _arg(args, "name", str)
    await ctx.session.report_progress(0, None, "waiting")
    with anyio.fail_after(SLOW_LIMIT_SECONDS):
        await s.gate(name).wait()
    return {"gate": name, "passed": True}


async def open_gate(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    name = _arg(args, "name", str)
    s.gate(name).set()
    return {"opened": name}


async def ping_client(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    await ctx.session.send_ping()
    return {"pong": True}


async def big(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    n = _arg(args, "n", int)
    return ("0123456789" * (n // 10 + 1))[:n]


async def received(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    return {"methods": s.received}


async def whoami(ctx: Ctx, s: Session, args: dict[str, Any]) -> Any:
    return {"pid": os.getpid(), "env": os.environ.get(_arg(args, "name", str, "FULL_PROTOCOL_TAG"))}


def _schema(**props: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": kind} for name, kind in props.items()}}


TOOLS: dict[str, tuple[ToolFn, dict[str, Any]]] = {
    "echo": (echo, {"type": "object", "additionalProperties": True}),
    "sample": (sample, _schema(prompt="string")),
    "elicit": (elicit, _schema(message="string")),
    "roots": (roots, _schema()),
    "progress": (progress, _schema(n="integer")),
    "log": (log, _schema(levels="array", tag="string")),
    "touch": (touch, _schema(uri="string")),
    "list_changed": (list_changed, _schema()),
    "slow": (slow, _schema(tag="string", seconds="number")),
    "was_cancelled": (was_cancelled, _schema(tag="string")),
    "gate": (gate, _schema(name="string")),
    "open": (open_gate, _schema(name="string")),
    "ping_client": (ping_client, _schema()),
    "big": (big, _schema(n="integer")),
    "received": (received, _schema()),
    "whoami": (whoami, _schema(name="string")),
}


@asynccontextmanager
async def _lifespan(_: Server[Session]) -> AsyncIterator[Session]:
    yield Session()


async def _list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    return types.ListToolsResult(
        tools=[types.Tool(name=n, input_schema=schema) for n, (_, schema) in TOOLS.items()]
    )


async def _call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    entry = TOOLS.get(params.name)
    if entry is None:
        raise MCPError(code=types.INVALID_PARAMS, message=f"unknown tool {params.name!r}")
    return _result(await entry[0](ctx, ctx.lifespan_context, dict(params.arguments or {})))


async def _list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
    return types.ListResourcesResult(
        resources=[types.Resource(uri=uri, name=uri.rsplit("/", 1)[1]) for uri in RESOURCES]
    )


async def _read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    text = RESOURCES.get(str(params.uri))
    if text is None:
        raise MCPError(code=types.INVALID_PARAMS, message=f"unknown resource {params.uri}")
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=params.uri, text=text)])


async def _subscribe(ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
    ctx.lifespan_context.subscriptions.add(str(params.uri))
    return types.EmptyResult()


async def _unsubscribe(ctx: Ctx, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    ctx.lifespan_context.subscriptions.discard(str(params.uri))
    return types.EmptyResult()


async def _list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
    argument = types.PromptArgument(name="name", required=True)
    return types.ListPromptsResult(prompts=[types.Prompt(name="greet", arguments=[argument])])


async def _get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    if params.name != "greet":
        raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {params.name!r}")
    name = (params.arguments or {}).get("name", "world")
    message = types.PromptMessage(role="user", content=types.TextContent(text=f"Hello, {name}!"))
    return types.GetPromptResult(messages=[message])


async def _set_level(ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
    ctx.lifespan_context.log_level = params.level
    return types.EmptyResult()


async def _cancelled(ctx: Ctx, params: types.CancelledNotificationParams) -> None:
    if params.request_id is not None:
        ctx.lifespan_context.cancelled_ids.append(params.request_id)


async def _record_method(ctx: Ctx, call_next: CallNext) -> HandlerResult:
    """Middleware: note every inbound method before anything can refuse it."""
    ctx.lifespan_context.received.append(ctx.method)
    return await call_next(ctx)


def build_server() -> Server[Session]:
    server: Server[Session] = Server(
        "full-protocol",
        version="1.0.0",
        lifespan=_lifespan,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
        on_list_resources=_list_resources,
        on_read_resource=_read_resource,
        on_subscribe_resource=_subscribe,
        on_unsubscribe_resource=_unsubscribe,
        on_list_prompts=_list_prompts,
        on_get_prompt=_get_prompt,
        on_set_logging_level=_set_level,
    )
    server.add_notification_handler("notifications/cancelled", types.CancelledNotificationParams, _cancelled)
    server.middleware.append(_record_method)
    return server


def main() -> None:
    """One session in the handshake era only, until stdin closes."""
    server = build_server()
    run(server, server.create_initialization_options(NotificationOptions(tools_changed=True)))


if __name__ == "__main__":
    main()
