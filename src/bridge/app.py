"""The bridge as a running server: the Starlette app (routes), uvicorn under our own signals, shutdown."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
from collections.abc import Iterator

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge import jsonrpc
from bridge.config import Settings
from bridge.health import Drain, Health, Metrics, Ready, serve_agent
from bridge.http import respond
from bridge.metrics import BridgeMetrics
from bridge.security import SecurityMiddleware, SecurityPolicy
from bridge.session import Registry
from bridge.transports.sse import MessagesEndpoint, SseEndpoint
from bridge.transports.streamable import StreamableEndpoint

log = logging.getLogger("bridge")


class NotFound:
    """Any other path: 404 with a JSON-RPC error body (counted)."""

    def __init__(self, metrics: BridgeMetrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.http_error(404, "unknown_path")
        await respond(send, 404, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "Not Found"))


class ErrorGuard:
    """The outermost layer: an exception that escapes a handler (a bug) is logged, and the client
    gets a 500 with a JSON-RPC error body if its response had not started."""

    def __init__(self, app: ASGIApp, metrics: BridgeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                self.metrics.http_error(500, "internal_error")
                await respond(send, 500, jsonrpc.error(None, jsonrpc.INTERNAL_ERROR, "Internal error"))


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
    return ErrorGuard(secured, metrics)


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
    async with anyio.create_task_group() as tg:
        registry = Registry(settings, tg, BridgeMetrics(), policy.header_env, settings.child_env(dict(os.environ)))
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
        log.info("%s; prespawn: %d", policy.describe(), registry.pool.size if registry.pool else 0)
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
