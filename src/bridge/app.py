"""The bridge as a running server: the Starlette app (routes), uvicorn under our own signals, shutdown."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import time
from collections.abc import Iterator, Mapping

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge import jsonrpc
from bridge.config import Settings
from bridge.fork import ForkCommandError, ForkServer, ForkServerError
from bridge.fork import resolve as resolve_fork_target
from bridge.health import Drain, Health, Metrics, Ready, serve_agent
from bridge.http import Headers, respond
from bridge.metrics import BridgeMetrics
from bridge.observability import ACCESS_FORMAT, ACCESS_LOGGER
from bridge.security import SecurityMiddleware, SecurityPolicy
from bridge.session import Registry
from bridge.transports.intake import SESSION_HEADER
from bridge.transports.sse import MessagesEndpoint, SseEndpoint
from bridge.transports.streamable import StreamableEndpoint

log = logging.getLogger("bridge")
access_log = logging.getLogger(ACCESS_LOGGER)


class NotFound:
    """Any other path: 404 with a JSON-RPC error body (counted)."""

    def __init__(self, metrics: BridgeMetrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.http_error(404, "unknown_path")
        await respond(send, 404, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "Not Found"))


class ErrorGuard:
    """The outermost layer: an exception that escapes a handler (a bug) is logged, and the client
    gets a 500 with a JSON-RPC error body if its response had not started. It also writes the access
    log: one `bridge.access` line per request once its answer is over (streams: when they close).

    An access line holds the client address (the forwarded one from a trusted proxy: the security
    layer rewrites `scope["client"]`), method, path without its query, status (0: the client left
    before any answer), the session id (the answer's or the request's `Mcp-Session-Id`, or the
    message path's `session_id`) and the duration in milliseconds; never a header value otherwise
    (no Authorization, no mapped header). The per-request cost is this closure and the log call's
    argument tuple; nothing when `bridge.access` is above info.
    """

    def __init__(self, app: ASGIApp, metrics: BridgeMetrics, message_path: str = "/messages") -> None:
        self.app = app
        self.metrics = metrics
        self.message_path = message_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0
        answered_session: bytes | None = None
        begun = time.perf_counter()

        async def watched(message: Message) -> None:
            nonlocal status, answered_session
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == SESSION_HEADER:
                        answered_session = value
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not status:
                status = 500
                self.metrics.http_error(500, "internal_error")
                await respond(send, 500, jsonrpc.error(None, jsonrpc.INTERNAL_ERROR, "Internal error"))
        finally:
            if scope["type"] == "http" and access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    ACCESS_FORMAT, client[0] if client else "-", scope["method"],
                    (scope.get("raw_path") or scope["path"].encode())[:MAX_LOGGED].decode("latin-1"), status,
                    self._session_of(scope, answered_session), (time.perf_counter() - begun) * 1000.0)

    def _session_of(self, scope: Scope, answered: bytes | None) -> str:
        """The session a request belongs to, as sent (bounded), or "-"."""
        found = answered or Headers.of(scope).get(SESSION_HEADER)
        if found is None and scope["path"] == self.message_path:
            query: bytes = scope.get("query_string", b"")
            start = query.find(b"session_id=")
            if start >= 0 and (start == 0 or query[start - 1:start] == b"&"):
                found = query[start + len(b"session_id="):].partition(b"&")[0]
        return found[:MAX_LOGGED].decode("latin-1") if found else "-"


MAX_LOGGED = 200  # characters of a path or session id a client sent


def build_app(settings: Settings, registry: Registry, policy: SecurityPolicy) -> ASGIApp:
    """Probes, the legacy SSE pair and the Streamable HTTP endpoint, behind the security layer.

    A bare Starlette `Router` (no Starlette app around it): every endpoint is a raw ASGI callable
    that answers its own errors, so the per-request exception middlewares would only cost time.
    """
    metrics = registry.metrics
    router = Router(
        routes=[
            # the per-message paths first: the router tries routes in order
            Route(settings.mcp_path, StreamableEndpoint(settings, registry)),
            Route(settings.message_path, MessagesEndpoint(settings, registry)),
            Route(settings.sse_path, SseEndpoint(settings, registry)),
            Route("/healthz", Health()),
            Route("/health", Health()),
            Route("/readyz", Ready(registry, settings.ready_timeout)),
            Route("/drainz", Drain(registry)),
            Route("/metrics", Metrics(metrics)),
        ],
        redirect_slashes=False,
        default=NotFound(metrics),
    )
    secured = SecurityMiddleware(router, policy, on_error=lambda e: metrics.http_error(e.status, e.reason))
    return ErrorGuard(secured, metrics, settings.message_path)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the bridge owns SIGTERM/SIGINT and the shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_impl() -> str:
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


async def serve(settings: Settings, policy: SecurityPolicy) -> None:
    """Serve until SIGTERM/SIGINT, then shut down in order: sessions first, then the HTTP server."""
    metrics = BridgeMetrics()
    base_env = settings.child_env(dict(os.environ))
    fork = _fork_server(settings, policy, base_env, metrics)
    try:
        await _serve(settings, policy, metrics, base_env, fork)
    except* ForkServerError as failed:
        problem = str(_leaves(failed)[0])
    else:
        return
    log.error("--fork-server: the template could not start: %s", problem)
    raise SystemExit(2)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in a (nested) exception group, in order."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def _fork_server(
    settings: Settings, policy: SecurityPolicy, base_env: Mapping[str, str], metrics: BridgeMetrics
) -> ForkServer | None:
    """The fork server of `--fork-server`, its template's environment sanitised: what every child
    gets, without the variables sessions set from request headers. Exit 2 when the command is not
    a Python program it can fork."""
    if not settings.fork_server:
        metrics.fork_server_up.set(0)
        return None
    try:
        target = resolve_fork_target(settings.command, base_env, settings.cwd)
    except ForkCommandError as exc:
        log.error("--fork-server: cannot fork %r: %s", settings.command[0], exc)
        raise SystemExit(2) from None
    template_env = {k: v for k, v in base_env.items() if k not in policy.header_env.variables}
    return ForkServer(target, template_env, settings.cwd, settings.fork_preload, settings.kill_grace, metrics)


async def _serve(
    settings: Settings, policy: SecurityPolicy, metrics: BridgeMetrics, base_env: Mapping[str, str],
    fork: ForkServer | None,
) -> None:
    async with anyio.create_task_group() as tg:
        if fork is not None:
            await tg.start(fork.run)
        registry = Registry(settings, tg, metrics, policy.header_env, base_env, fork)
        await registry.start()
        config = uvicorn.Config(
            build_app(settings, registry, policy),
            host=settings.host,
            port=settings.port,
            http=_http_impl(),
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,  # forwarded headers are the security layer's business
            timeout_graceful_shutdown=int(settings.shutdown_grace) + 1,
        )
        server = _Server(config)
        sock = config.bind_socket()
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        log.info("bridge listening on http://%s:%d (command: %s)", shown, port, settings.command[0])
        log.info("%s; prespawn: %d; children: %s", policy.describe(), registry.pool.size if registry.pool else 0,
                 registry.child_mode)
        if settings.agent_port:
            await tg.start(serve_agent, registry, settings.host, settings.agent_port)
        await tg.start(_stop_on_signal, registry, server, settings)
        await server.serve(sockets=[sock])
        tg.cancel_scope.cancel()
    log.info("bridge stopped")


async def _stop_on_signal(
    registry: Registry, server: uvicorn.Server, settings: Settings, *, task_status: TaskStatus[None]
) -> None:
    """The first SIGTERM/SIGINT drains (busy sessions go on up to `--drain-timeout`), then in-flight
    requests get `--shutdown-grace`, then every session ends; a second signal skips to the end."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            log.info("%s: shutting down: draining (up to %gs), then in-flight requests get up to %gs; a second signal "
                     "ends at once", signal.Signals(signum).name, settings.drain_timeout, settings.shutdown_grace)
            break
        hurry = anyio.CancelScope()

        async def on_second_signal() -> None:
            async for again in signals:
                log.info("%s again: ending every session now", signal.Signals(again).name)
                hurry.cancel()
                return

        async with anyio.create_task_group() as tg:
            tg.start_soon(on_second_signal)
            with hurry:
                await registry.drain(settings.drain_timeout)
                await registry.shutdown(settings.shutdown_grace)
            if hurry.cancel_called:
                await registry.shutdown(0)
            tg.cancel_scope.cancel()
        server.should_exit = True
