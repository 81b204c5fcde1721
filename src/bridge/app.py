"""The bridge as a running server: the Starlette app (routes), uvicorn under our own signals, shutdown."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import signal
from collections.abc import Iterator

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge import jsonrpc
from bridge.config import Settings
from bridge.observability import HEALTH_BODY
from bridge.sessions import Registry
from bridge.transports import http
from bridge.transports.http import Receive, Scope, Send
from bridge.transports.sse import MessagesEndpoint, SseEndpoint
from bridge.transports.streamable import StreamableEndpoint

log = logging.getLogger("bridge")


class Health:
    """`{"status":"ok"}` while the process serves (liveness)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await http.respond(send, 200, HEALTH_BODY)


async def _error_page(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    message = {404: "Not Found", 405: "Method not allowed"}.get(status, "Error")
    return Response(jsonrpc.error(None, jsonrpc.INVALID_REQUEST, message), status, media_type="application/json")


def build_app(settings: Settings, registry: Registry) -> Starlette:
    """Routes: health, the legacy SSE pair and the Streamable HTTP endpoint, all raw ASGI callables."""
    return Starlette(
        routes=[
            Route("/healthz", Health()),
            Route("/health", Health()),
            Route(settings.sse_path, SseEndpoint(settings, registry)),
            Route(settings.message_path, MessagesEndpoint(settings, registry)),
            Route(settings.mcp_path, StreamableEndpoint(settings, registry)),
        ],
        exception_handlers={404: _error_page, 405: _error_page},
    )


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the bridge owns SIGTERM/SIGINT and the shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_impl() -> str:
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then shut down in order: sessions first, then the HTTP server."""
    async with anyio.create_task_group() as tg:
        registry = Registry(settings, tg)
        config = uvicorn.Config(
            build_app(settings, registry),
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
        await tg.start(_stop_on_signal, registry, server, settings.shutdown_grace)
        await server.serve(sockets=[sock])
        tg.cancel_scope.cancel()
    log.info("bridge stopped")


async def _stop_on_signal(
    registry: Registry, server: uvicorn.Server, grace: float, *, task_status: TaskStatus[None]
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            log.info("%s: shutting down (in-flight requests get up to %gs)", signal.Signals(signum).name, grace)
            break
        await registry.shutdown(grace)
        server.should_exit = True
