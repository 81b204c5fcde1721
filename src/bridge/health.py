"""The probe endpoints: `/healthz` (and `/health`), `/readyz` and `/metrics`, as raw ASGI callables.

Liveness says only that the process serves. Readiness says a session could start now: the bridge
is not draining, and a probe child, started with the environment every child gets, answers
`initialize` within `--ready-timeout`. One probe runs at a time and its answer is reused for a
couple of seconds, so a burst of probes starts one child, not many. Probe children are not
sessions: they are not counted in the session or child metrics.
"""

from __future__ import annotations

import logging
import time

import anyio

from bridge import codec, http
from bridge.child import Child
from bridge.http import Receive, Scope, Send
from bridge.metrics import BridgeMetrics
from bridge.session import Registry

log = logging.getLogger("bridge.health")

READY_CACHE_SECONDS = 2.0
PROBE_INITIALIZE = codec.dumps({
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "bridge-readiness-probe", "version": "1"}},
})


class Health:
    """`{"status":"ok"}` while the process serves (liveness)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await http.respond(send, 200, b'{"status":"ok"}')


class Ready:
    """200 `{"status":"ready"}` or 503 `{"status":"not ready","reason":...}`."""

    def __init__(self, registry: Registry, timeout: float) -> None:
        self.registry = registry
        self.timeout = timeout
        self._lock = anyio.Lock()
        self._checked_at = -READY_CACHE_SECONDS
        self._problem: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = await self.problem()
        if problem is None:
            await http.respond(send, 200, b'{"status":"ready"}')
        else:
            await http.respond(send, 503, codec.dumps({"status": "not ready", "reason": problem}))

    async def problem(self) -> str | None:
        """Why a session could not start now, or None."""
        if not self.registry.accepting:
            return "draining: the bridge is shutting down"
        async with self._lock:
            if time.monotonic() - self._checked_at >= READY_CACHE_SECONDS:
                self._problem = await self._probe()
                self._checked_at = time.monotonic()
                if self._problem:
                    log.warning("not ready: %s", self._problem)
            return self._problem

    async def _probe(self) -> str | None:
        settings = self.registry.settings
        try:
            child = await Child.spawn(settings.command, self.registry.base_env, settings.cwd)
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
