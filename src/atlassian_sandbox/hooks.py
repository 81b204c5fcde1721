"""Test hooks: fault injection, the request log, reset; and the middleware that applies them.

The middleware also authenticates every non-hook request, so the log can name the caller and a
401 comes back in the right service's shape before any handler runs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlassian_sandbox.auth import CHALLENGES, UNAUTHENTICATED, authenticate
from atlassian_sandbox.context import Fault, Sandbox, sandbox_of
from atlassian_sandbox.errors import error_body, error_response
from atlassian_sandbox.responses import Json

log = logging.getLogger("atlassian_sandbox")

HOOK_PREFIX = "/__sandbox"
MALFORMED = b'{"truncated": [1, 2, {"oops": '
FAULT_KEYS = {"method", "path", "status", "retry_after", "latency_ms", "times", "malformed", "body"}


def parse_fault(spec: Any) -> Fault:
    """A Fault from the JSON a test posted; ValueError with a clear message on bad input."""
    if not isinstance(spec, dict):
        raise ValueError("fault must be a JSON object")
    unknown = set(spec) - FAULT_KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    path = spec.get("path", ".*")
    try:
        re.compile(path)
    except (re.error, TypeError) as exc:
        raise ValueError(f"path is not a valid regex: {exc}") from exc
    status = spec.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise ValueError("status must be an HTTP status code")
    times = spec.get("times", 1)
    latency = spec.get("latency_ms", 0)
    if not isinstance(times, int) or times < 1:
        raise ValueError("times must be a positive integer")
    if not isinstance(latency, int) or not 0 <= latency <= 60_000:
        raise ValueError("latency_ms must be an integer from 0 to 60000")
    retry_after = spec.get("retry_after")
    if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
        raise ValueError("retry_after must be a non-negative integer")
    return Fault(
        method=str(spec.get("method", "*")).upper(),
        path=path,
        status=status,
        retry_after=retry_after,
        latency_ms=latency,
        times=times,
        malformed=bool(spec.get("malformed", False)),
        body=spec.get("body"),
    )


def take_fault(box: Sandbox, method: str, path: str) -> Fault | None:
    """The first fault matching this request, counting one use of it (and dropping it when spent)."""
    for fault in box.faults:
        if fault.method in ("*", method) and re.search(fault.path, path):
            fault.times -= 1
            if fault.times <= 0:
                box.faults.remove(fault)
            return fault
    return None


def fault_response(fault: Fault, service: str) -> Response | None:
    if fault.malformed:
        return Response(MALFORMED, status_code=fault.status or 200, media_type="application/json")
    if fault.status is None:
        return None
    headers = {}
    if fault.retry_after is not None and fault.status in (429, 503):
        headers["Retry-After"] = str(fault.retry_after)
    body = fault.body if fault.body is not None else error_body(service, fault.status, "Injected fault")
    return Json(body, status_code=fault.status, headers=headers)


def unauthenticated(service: str) -> Response:
    response = error_response(service, 401, UNAUTHENTICATED[service])
    for challenge in CHALLENGES:
        response.headers.append("WWW-Authenticate", challenge)
    return response


class SandboxMiddleware:
    """Faults first (a proxy would fail before auth), then authentication, then the app; logs all."""

    def __init__(self, app: ASGIApp, box: Sandbox) -> None:
        self.app = app
        self.box = box

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(HOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        box = self.box
        method: str = scope["method"]
        service = box.service_of(path)
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "user": None,
            "status": None,
        }

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                box.requests.append(entry)
                log.info("%s %s -> %s (%s)", method, path, entry["status"], entry["user"] or "anonymous")
            await send(message)

        fault = take_fault(box, method, path)
        if fault is not None:
            if fault.latency_ms:
                await anyio.sleep(fault.latency_ms / 1000)
            faulted = fault_response(fault, service)
            if faulted is not None:
                await faulted(scope, receive, logged_send)
                return
        headers = dict(scope.get("headers", []))
        auth = headers.get(b"authorization", b"").decode("latin-1") or None
        user = authenticate(auth, box.mode)
        if user is None:
            await unauthenticated(service)(scope, receive, logged_send)
            return
        entry["user"] = user.name
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, logged_send)


async def health(request: Request) -> Response:
    return Json({"status": "ok", "mode": sandbox_of(request).mode})


async def reset(request: Request) -> Response:
    sandbox_of(request).reset()
    return Json({"status": "reset"})


async def add_fault(request: Request) -> Response:
    try:
        fault = parse_fault(await request.json())
    except ValueError as exc:
        return Json({"error": str(exc)}, status_code=400)
    sandbox_of(request).faults.append(fault)
    return Json({"faults": len(sandbox_of(request).faults)}, status_code=201)


async def clear_faults(request: Request) -> Response:
    sandbox_of(request).faults.clear()
    return Response(status_code=204)


async def list_requests(request: Request) -> Response:
    return Json({"requests": list(sandbox_of(request).requests)})


async def clear_requests(request: Request) -> Response:
    sandbox_of(request).requests.clear()
    return Response(status_code=204)


ROUTES = [
    Route(f"{HOOK_PREFIX}/health", health, methods=["GET"]),
    Route(f"{HOOK_PREFIX}/reset", reset, methods=["POST"]),
    Route(f"{HOOK_PREFIX}/faults", add_fault, methods=["POST"]),
    Route(f"{HOOK_PREFIX}/faults", clear_faults, methods=["DELETE"]),
    Route(f"{HOOK_PREFIX}/requests", list_requests, methods=["GET"]),
    Route(f"{HOOK_PREFIX}/requests", clear_requests, methods=["DELETE"]),
]
