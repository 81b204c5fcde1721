"""A real server for the security tests: a small Starlette app wrapped by the middleware, served by
uvicorn in this process on a socket bound to 127.0.0.1, ended when the test's block exits."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bridge.config import Settings
from bridge.http import Headers, HttpError, Receive, Scope, Send, respond
from bridge.security import SecurityMiddleware, SecurityPolicy, build_policy

# The environment the "bridge" runs with: a child must never inherit the operator's JIRA_API_TOKEN.
BRIDGE_ENV = {"JIRA_API_TOKEN": "operator-own-token-xyz", "KEEP_ME": "1"}

Serve = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
OnError = Callable[[HttpError], None]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it holds; fails the test if it does not within 10 seconds."""
    with anyio.fail_after(10):
        while True:
            if await check():
                return
            await anyio.sleep(0.05)


class NewSession:
    """Builds a child environment the way a transport does: from the headers the middleware parsed,
    answering a refusal as the `HttpError` it is."""

    def __init__(self, policy: SecurityPolicy) -> None:
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            env = self.policy.header_env.environment(BRIDGE_ENV, Headers.of(scope).text())
        except HttpError as error:
            await error.send(send)
            return
        await respond(send, 200, json.dumps(env).encode())


def echo_app(policy: SecurityPolicy) -> Starlette:
    """`/mcp` tells what the middleware handed on; `/session` builds a child environment."""

    async def mcp(request: Request) -> Response:
        client = request.scope.get("client")
        return JSONResponse({
            "credential_id": request.state.credential_id,
            "client": client[0] if client else None,
            "scheme": request.url.scheme,
        }, headers={"Mcp-Session-Id": "s-1"})

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/mcp", mcp, methods=["GET", "POST", "DELETE"]),
        Route("/session", NewSession(policy), methods=["POST"]),
        Route("/healthz", health),
        Route("/metrics", health),
    ])


@contextlib.asynccontextmanager
async def serve_policy(policy: SecurityPolicy, on_error: OnError | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """Serve the echo app behind `policy`; yields a client whose base URL is the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(SecurityMiddleware(echo_app(policy), policy, on_error), lifespan="off", proxy_headers=False,
                            log_config=None, log_level="debug", access_log=True)
    server = uvicorn.Server(config)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            try:
                async def started() -> bool:
                    return server.started

                await eventually(started)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                    yield client
            finally:
                server.should_exit = True
    sock.close()


@pytest.fixture
def serve() -> Serve:
    """`async with serve(settings, on_error=..., **build_policy_kwargs) as client: ...`"""

    @contextlib.asynccontextmanager
    async def run(settings: Settings | None = None, on_error: OnError | None = None,
                  **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
        policy = build_policy(settings or Settings(), **kwargs)
        async with serve_policy(policy, on_error) as client:
            yield client

    return run
