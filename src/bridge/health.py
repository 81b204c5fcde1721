"""The probe endpoints: `/healthz` (and `/health`), `/readyz`, `/drainz` and `/metrics`, as raw ASGI
callables, and the HAProxy agent check.

Which probe for whom: an orchestrator's liveness probe asks `/healthz`; its readiness probe
`/readyz` (not ready while draining, so no new session is routed here); a balancer's health check
asks `/drainz`, which stays 200 while the process serves and says "draining" as Envoy reads it
(`x-envoy-degraded: true`: no new sessions, sticky ones still arrive), or, for HAProxy, the agent
port (`--agent-port`) answers `drain`. A balancer must not check `/readyz`: a replica that fails
it loses its sticky sessions too.

Liveness says only that the process serves. Readiness says a session could start now: the bridge
is not draining, and a probe child, started with the environment every child gets, answers
`initialize` within `--ready-timeout`. One probe runs at a time. A success is reused for minutes,
until a session's child fails to start, so an orchestrator probing every few seconds does not start
a child each time; a failure is re-checked after a couple of seconds. Probe children are not
sessions: they are not counted in the session or child metrics. The answer names how children
start (`exec`, or `fork` from the `--fork-server` template).
"""

from __future__ import annotations

import contextlib
import logging
import time

import anyio
import anyio.abc
from anyio.abc import TaskStatus

from bridge import codec, http
from bridge.http import Receive, Scope, Send
from bridge.metrics import BridgeMetrics
from bridge.session import Registry

log = logging.getLogger("bridge.health")

READY_CACHE_SECONDS = 2.0  # how long a failed probe's answer is reused
READY_RECHECK_SECONDS = 300.0  # how long a success is, unless a session's child failed to start since
PROBE_INITIALIZE = codec.dumps({
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "bridge-readiness-probe", "version": "1"}},
})


class Health:
    """`{"status":"ok"}` while the process serves (liveness)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await http.respond(send, 200, b'{"status":"ok"}')


class Drain:
    """For balancers: 200 `{"status":"serving"}`, or while draining 200 `{"status":"draining"}`
    with `x-envoy-degraded: true`."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.registry.draining:
            await http.respond(send, 200, b'{"status":"draining"}', [(b"x-envoy-degraded", b"true")])
        else:
            await http.respond(send, 200, b'{"status":"serving"}')


async def serve_agent(registry: Registry, host: str, port: int, *, task_status: TaskStatus[None]) -> None:
    """HAProxy's agent check: each connection gets one line, `ready up` or `drain`, then closes."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=False)
    log.info("HAProxy agent check on %s:%d", host, port)
    task_status.started()

    async def answer(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            with anyio.move_on_after(5), contextlib.suppress(OSError, anyio.BrokenResourceError):
                await stream.send(b"drain\n" if registry.draining else b"ready up\n")

    await listener.serve(answer)


class Ready:
    """200 `{"status":"ready"}` or 503 `{"status":"not ready","reason":...}`."""

    def __init__(self, registry: Registry, timeout: float) -> None:
        self.registry = registry
        self.timeout = timeout
        self._lock = anyio.Lock()
        self._checked_at = float("-inf")
        self._problem: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = await self.problem()
        children = self.registry.child_mode
        if problem is None:
            await http.respond(send, 200, codec.dumps({"status": "ready", "children": children}))
        else:
            await http.respond(send, 503, codec.dumps({"status": "not ready", "reason": problem, "children": children}))

    async def problem(self) -> str | None:
        """Why a session could not start now, or None."""
        if not self.registry.accepting:
            return "draining: the bridge is shutting down"
        async with self._lock:
            age = time.monotonic() - self._checked_at
            failed_since = self.registry.spawn_failed_at > self._checked_at
            if age >= (READY_CACHE_SECONDS if self._problem or failed_since else READY_RECHECK_SECONDS):
                self._problem = await self._probe()
                self._checked_at = time.monotonic()
                if self._problem:
                    log.warning("not ready: %s", self._problem)
            return self._problem

    async def _probe(self) -> str | None:
        settings = self.registry.settings
        try:
            child = await self.registry.start_child(self.registry.base_env)
        except OSError as exc:
            return f"the server command cannot start: {exc}"
        answered = anyio.Event()

        async def on_line(line: bytes) -> None:
            try:
                message = codec.loads(line)
            except codec.DecodeError:
                return
            if isinstance(message, dict) and message.get("id") == 0 and "method" not in message:
                answered.set()

        try:
            with anyio.move_on_after(self.timeout):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(child.read_lines, settings.max_line_size, on_line)
                    tg.start_soon(child.drain_stderr, False)
                    await child.write_lines([PROBE_INITIALIZE])
                    await answered.wait()
                    tg.cancel_scope.cancel()
        except Exception as exc:  # a child that dies mid-probe: not ready, never a 500
            return f"the server process failed during initialize: {type(exc).__name__}"
        finally:
            code = await child.terminate(settings.kill_grace)
        if not answered.is_set():
            return f"the server did not answer initialize within {self.timeout:g}s (exit code {code})"
        return None


class Metrics:
    """The Prometheus exposition of this bridge's metrics."""

    def __init__(self, metrics: BridgeMetrics) -> None:
        self.metrics = metrics
        self.content_type = metrics.content_type.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await http.respond(send, 200, self.metrics.render(), content_type=self.content_type)
