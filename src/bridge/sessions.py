"""A session (its child, id remapping, routing to streams) and the registry (limits, shutdown).

Client request ids are replaced by fresh integers on the way into the child and restored,
type-exact, on the way out, so clients that reuse ids still get their own answers. A request's
answer goes to the destination it came with; the child's other messages go to that request's
stream when they clearly belong to it (its progress token, or it is the only request in flight),
otherwise to the session's default destination. A message whose HTTP stream has gone is dropped
with a debug log: a dropped connection is not a cancel.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup, TaskStatus

from bridge import codec, jsonrpc
from bridge.child import Child, ChildGone, LineTooLong
from bridge.config import Settings
from bridge.memory import trim_heap_while_running
from bridge.metrics import BridgeMetrics
from bridge.observability import SessionTag, session_context
from bridge.pool import ChildPool
from bridge.replay import EventLog
from bridge.routes import Destination, GetChannel, Outbox, PostStream
from bridge.security import HeaderEnv

log = logging.getLogger("bridge.session")

Kind = Literal["sse", "streamable"]


class Unavailable(Exception):
    """No new session now: at max sessions or shutting down (503 + Retry-After)."""


class SessionEnded(Exception):
    """The session ended while a message was on its way in."""


@dataclass(slots=True)
class Pending:
    """A request in flight in the child, by the bridge's id for it."""

    original_id: object
    dest: Destination
    started: float
    method: str
    token: object | None


class Session:
    """One client session and its child process."""

    def __init__(
        self,
        registry: Registry,
        kind: Kind,
        env: Mapping[str, str],
        credential: str | None = None,
        prespawned: Child | None = None,
    ) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.metrics = registry.metrics
        self.traffic = registry.metrics.traffic
        self.kind = kind
        self.env = env  # the environment this session's child was created with
        self.credential = credential  # the credential the session is bound to (None: auth off)
        # Made now so every log line of the session carries it; clients learn it only at `publish`.
        self.id = secrets.token_urlsafe(32)
        self.tag = SessionTag(self.id)
        self._prespawned = prespawned
        # Where the child's messages go when no request claims them: the SSE stream, or the GET channel.
        size, stall = self.settings.max_queue, self.settings.stall_timeout
        resumable = kind == "streamable" and self.settings.resume and not self.settings.json_response
        self.event_log = EventLog(
            self.settings.resume_buffer, self.settings.resume_bytes, self.metrics.resume_evicted.inc
        ) if resumable else None
        self.open_streams: dict[int, PostStream] = {}  # unfinished request streams, for resumes
        self.sse_outbox: Outbox | None = Outbox(True, size, stall) if kind == "sse" else None
        self.get_channel: GetChannel | None = (
            None if self.sse_outbox else GetChannel(self.settings.get_buffer, size, stall, self.event_log)
        )
        self.default: Destination = self.sse_outbox or self.get_channel  # type: ignore[assignment]
        self.pending: dict[int, Pending] = {}
        self._by_token: dict[object, int] = {}
        self._ids = itertools.count(1)
        self.protocol_version: str | None = None
        self.initialized = anyio.Event()
        self.ended = anyio.Event()
        self.end_reason = ""
        self.last_activity = time.monotonic()
        self.child: Child | None = None
        self._scope: anyio.CancelScope | None = None
        self._pending_added = anyio.Event()

    # ----- lifecycle -------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Spawn the child, pump it until the session ends, then end the child. Never raises after start."""
        with session_context(self.tag):
            self.child = self._prespawned or await self.registry.spawn_child(self.env)
            self.metrics.session_opened(self.kind)
            try:
                with anyio.CancelScope() as scope:
                    self._scope = scope
                    task_status.started()
                    if self.ended.is_set():
                        scope.cancel()
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._pump_stdout)
                        tg.start_soon(self.child.drain_stderr)
                        tg.start_soon(self._watch_exit)
                        tg.start_soon(self._watch_idle)
                        tg.start_soon(self._expire_requests)
            except Exception:
                log.exception("session failed")
                self.end("internal error")
            finally:
                with anyio.CancelScope(shield=True):
                    await self._finish()

    def end(self, reason: str) -> None:
        """End the session now (idempotent): its id answers 404 at once, its streams close."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        self.registry.forget(self)
        with session_context(self.tag):
            log.info("session ending: %s", reason)
        if self._scope is not None:
            self._scope.cancel()

    async def _finish(self) -> None:
        self.end(self.end_reason or "stopped")
        reason = self.end_reason
        pending, self.pending = self.pending, {}
        self._by_token.clear()
        for entry in pending.values():
            body = jsonrpc.error(entry.original_id, jsonrpc.CONNECTION_CLOSED, f"Session ended: {reason}")
            with anyio.move_on_after(1.0):
                await self._deliver(entry.dest, body, True)
        self.default.close()
        for stream in list(self.open_streams.values()):
            stream.close()
        self.open_streams.clear()
        if self.event_log is not None:
            self.event_log.clear()
        child = self.child
        if child is not None:
            code = await child.terminate(self.settings.kill_grace)
            log.info("child %d ended with exit code %s", child.pid, code)
            self.metrics.child_exited(code)
            if child.stderr_suppressed:
                self.metrics.stderr_suppressed.inc(child.stderr_suppressed)
        self.registry.release(self)

    async def _watch_exit(self) -> None:
        """A child that exits ends its session (after its last output has been read)."""
        assert self.child is not None
        code = await self.child.process.wait()
        await anyio.sleep(0.5)  # let the stdout pump deliver the last lines before the session ends
        self._log_exit(code)
        self.end(f"child exited with code {code}")

    def _log_exit(self, code: int) -> None:
        if self.ended.is_set():
            return
        assert self.child is not None
        tail = "\n".join(self.child.stderr_tail)
        log.warning("child %d exited with code %s; stderr tail:\n%s", self.child.pid, code, tail or "(empty)")

    async def _pump_stdout(self) -> None:
        assert self.child is not None
        try:
            await self.child.read_lines(self.settings.max_line_size, self._on_line)
        except LineTooLong as exc:
            log.error("%s: ending the session", exc)
            self.end("child stdout line too long")
            return
        with anyio.move_on_after(self.settings.kill_grace + 1.0):
            code = await self.child.process.wait()
            self._log_exit(code)
            self.end(f"child exited with code {code}")
            return
        self.end("child closed stdout")

    async def _watch_idle(self) -> None:
        idle = self.settings.idle_timeout
        while True:
            await anyio.sleep(max(0.0, self.last_activity + idle - time.monotonic()))
            if time.monotonic() - self.last_activity >= idle:
                if not self.pending:
                    self.end(f"idle for {idle:g}s")
                    return
                self.last_activity = time.monotonic()  # a request is still in flight: not idle

    async def _expire_requests(self) -> None:
        """Requests the child does not answer in time get a timeout error; the child a cancel."""
        while True:
            if not self.pending:
                self._pending_added = anyio.Event()
                await self._pending_added.wait()
                continue
            bridge_id, entry = next(iter(self.pending.items()))  # oldest first: same timeout for all
            delay = entry.started + self.settings.request_timeout - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
                continue
            del self.pending[bridge_id]
            self._forget_token(entry)
            log.warning("request %r (%s) timed out", entry.original_id, entry.method)
            await self._deliver(
                entry.dest, jsonrpc.error(entry.original_id, jsonrpc.REQUEST_TIMEOUT, "Request timed out"), True
            )
            await self._write(jsonrpc.cancelled(bridge_id, "request timed out at the bridge"))

    # ----- client → child --------------------------------------------------------------------

    async def submit(self, message: dict[str, Any], raw: bytes | None, dest: Destination) -> None:
        """Hand one client message to the child; requests' answers will go to `dest`."""
        if self.ended.is_set():
            raise SessionEnded(self.end_reason)
        self.last_activity = time.monotonic()
        method = message.get("method")
        if "id" in message and isinstance(method, str):
            await self._submit_request(message, method, dest)
        elif method == jsonrpc.CANCELLED:
            await self._submit_cancel(message)
        else:
            await self._write(raw if raw is not None else jsonrpc.dumps(message))

    async def _submit_request(self, message: dict[str, Any], method: str, dest: Destination) -> None:
        original = message["id"]
        if method == jsonrpc.DISCOVER:  # a 2026-07-28 probe: never for a handshake-era child
            await self._deliver(dest, jsonrpc.error(original, jsonrpc.METHOD_NOT_FOUND, "Method not found"), True)
            return
        bridge_id = next(self._ids)
        token = jsonrpc.progress_token(message)
        self.pending[bridge_id] = Pending(original, dest, time.monotonic(), method, token)
        if token is not None:
            self._by_token[token] = bridge_id
        self._pending_added.set()
        message["id"] = bridge_id
        await self._write(jsonrpc.dumps(message))

    async def _submit_cancel(self, message: dict[str, Any]) -> None:
        params = message.get("params")
        wanted = params.get("requestId") if isinstance(params, dict) else None
        found = [bid for bid, p in self.pending.items() if jsonrpc.same_id(p.original_id, wanted)]
        if not found or not isinstance(params, dict):
            log.debug("cancel for unknown request %r ignored", wanted)
            return
        bridge_id = found[-1]  # the newest request with that id
        entry = self.pending.pop(bridge_id)
        self._forget_token(entry)
        await self._write(jsonrpc.dumps({**message, "params": {**params, "requestId": bridge_id}}))
        await self._deliver(entry.dest, b"", True)  # the request is over; no answer will follow

    async def _write(self, data: bytes) -> None:
        assert self.child is not None
        try:
            await self.child.write_line(data)
            traffic = self.traffic
            traffic.messages_in += 1
            traffic.bytes_in += len(data)
        except ChildGone as exc:
            log.warning("%s: ending the session", exc)
            self.end("child stdin closed")

    # ----- child → client --------------------------------------------------------------------

    async def _on_line(self, line: bytes) -> None:
        try:
            if len(line) >= codec.LARGE_LINE and await self._answer_large(line):
                return
            message = jsonrpc.loads(line)
        except (jsonrpc.ParseError, codec.DecodeError):
            log.warning("child wrote a line that is not JSON (dropped): %r", line[:200])
            self.metrics.dropped_not_json.inc()
            return
        self._count_out(line)
        if isinstance(message, dict):
            await self._route(message, line)
        elif isinstance(message, list):
            for item in message:
                if isinstance(item, dict):
                    await self._route(item, None)
        else:
            log.warning("child wrote JSON that is not a message (dropped): %r", line[:200])

    async def _answer_large(self, line: bytes) -> bool:
        """Deliver a large response with its id replaced in place, not parsed and dumped again.

        False when the line is not such an answer to a pending request (the ordinary path takes it).
        """
        span = codec.locate_response_id(line)
        entry = self.pending.get(span.value) if span is not None else None
        if span is None or entry is None or entry.method == jsonrpc.INITIALIZE:
            return False
        self._count_out(line)
        self.traffic.messages_out += 1
        self._settle(span.value)
        await self._deliver(entry.dest, codec.replace_id(line, span, entry.original_id), True)
        return True

    def _count_out(self, line: bytes) -> None:
        self.last_activity = time.monotonic()
        self.traffic.bytes_out += len(line)

    async def _route(self, message: dict[str, Any], raw: bytes | None) -> None:
        self.traffic.messages_out += 1
        method = message.get("method")
        if method is None:
            await self._route_response(message)
            return
        data = raw if raw is not None and b"\r" not in raw else jsonrpc.dumps(message)
        dest = self.default
        owner: Pending | None = None
        if method == jsonrpc.PROGRESS:
            token = jsonrpc.progress_token(message)
            bridge_id = self._by_token.get(token) if token is not None else None
            owner = self.pending.get(bridge_id) if bridge_id is not None else None
        elif len(self.pending) == 1:
            owner = next(iter(self.pending.values()))
        if owner is not None and owner.dest.takes_extras:
            dest = owner.dest
        await self._deliver(dest, data, False)

    async def _route_response(self, message: dict[str, Any]) -> None:
        entry = self._settle(message.get("id"))
        if entry is None:
            return
        if entry.method == jsonrpc.INITIALIZE:
            self._note_initialized(message)
        message["id"] = entry.original_id
        await self._deliver(entry.dest, jsonrpc.dumps(message), True)

    def _settle(self, bridge_id: object) -> Pending | None:
        """The pending request this id answers, now no longer pending (None: unknown, cancelled, timed out)."""
        entry = self.pending.pop(bridge_id, None) if type(bridge_id) is int else None
        if entry is None:
            log.debug("answer for unknown, cancelled or timed-out request %r dropped", bridge_id)
            return None
        self._forget_token(entry)
        self.metrics.observe_request(entry.method, time.monotonic() - entry.started)
        return entry

    async def _deliver(self, dest: Destination, data: bytes, final: bool) -> None:
        reason = await dest.deliver(data, final)
        if reason is not None:
            self.metrics.dropped.labels(reason).inc()

    def _note_initialized(self, message: dict[str, Any]) -> None:
        result = message.get("result")
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        if isinstance(version, str):
            self.protocol_version = version
            log.info("child negotiated protocol version %s", version)
            self.initialized.set()

    def _forget_token(self, entry: Pending) -> None:
        if entry.token is not None:
            self._by_token.pop(entry.token, None)

    def accepts_batches(self) -> bool:
        return self.protocol_version in jsonrpc.BATCH_VERSIONS

    def primes_streams(self) -> bool:
        """Whether its SSE streams start with a priming event: clients of 2025-11-25 on expect one,
        older ones may not understand an event without data."""
        return self.protocol_version is not None and self.protocol_version >= jsonrpc.PRIMING_SINCE


class Registry:
    """All sessions: their children's environment, the limit on their number, lookup, shutdown."""

    def __init__(
        self,
        settings: Settings,
        task_group: TaskGroup,
        metrics: BridgeMetrics,
        header_env: HeaderEnv,
        base_env: Mapping[str, str],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.header_env = header_env
        self.base_env = dict(base_env)  # the bridge's environment as every child gets it, made once
        self._tg = task_group
        self._sessions: dict[str, Session] = {}
        self._live: set[Session] = set()  # started and not yet finished (published or not)
        self.accepting = True
        self._all_done = anyio.Event()
        # Children made ahead only when they all look alike: never with per-session header values.
        self.pool = (
            ChildPool(settings.prespawn, self._spawn_base, settings.kill_grace)
            if settings.prespawn and not header_env
            else None
        )

    async def start(self) -> None:
        self._tg.start_soon(trim_heap_while_running, self.metrics.traffic)
        if self.pool is not None:
            await self._tg.start(self.pool.run)

    async def spawn_child(self, env: Mapping[str, str]) -> Child:
        """Start one child (counted; a failure is counted and raised as OSError)."""
        try:
            child = await Child.spawn(self.settings.command, env, self.settings.cwd)
        except OSError:
            self.metrics.spawn_failures.inc()
            raise
        self.metrics.children_spawned.inc()
        return child

    async def _spawn_base(self) -> Child:
        return await self.spawn_child(self.base_env)

    async def open(
        self, kind: Kind, headers: Iterable[tuple[bytes, bytes]] = (), credential: str | None = None
    ) -> Session:
        """Start a session and its child; `Unavailable` at the limit or during shutdown.

        Mapped request headers become the child's variables (`RefusedError` when one is missing).
        """
        if not self.accepting or len(self._live) >= self.settings.max_sessions:
            raise Unavailable("at max sessions" if self.accepting else "shutting down")
        prespawned: Child | None = None
        if self.header_env:
            text = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
            env: Mapping[str, str] = self.header_env.environment(self.base_env, text)
        else:
            env = self.base_env
            prespawned = await self.pool.take() if self.pool is not None else None
        session = Session(self, kind, env, credential, prespawned)
        self._live.add(session)
        try:
            await self._tg.start(session.run)
        except BaseException:
            self.release(session)
            raise
        return session

    def publish(self, session: Session) -> str:
        """Make the session reachable by its id (for Streamable HTTP: once the child answered)."""
        self._sessions[session.id] = session
        with session_context(session.tag):
            log.info("session %s started (%s)", session.id, session.kind)
        return session.id

    def get(self, session_id: str, kind: Kind, credential: str | None) -> Session | None:
        """The live session of that id and transport, if the caller holds the credential that made it.

        Another credential gets None, as for an unknown id: it may not even learn the session exists.
        """
        session = self._sessions.get(session_id)
        if session is None or session.kind != kind or session.credential != credential:
            return None
        return session

    def forget(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def release(self, session: Session) -> None:
        if session in self._live:
            self._live.discard(session)
            if session.child is not None:
                self.metrics.session_closed(session.kind)
        if not self._live and not self.accepting:
            self._all_done.set()

    @property
    def count(self) -> int:
        return len(self._live)

    async def shutdown(self, grace: float) -> None:
        """Refuse new sessions, let in-flight requests finish within `grace`, end every session."""
        self.accepting = False
        with anyio.move_on_after(grace):
            while any(s.pending for s in self._live):  # noqa: ASYNC110 (shutdown only, bounded)
                await anyio.sleep(0.05)
        for session in list(self._live):
            session.end("bridge shutdown")
        if self._live:
            with anyio.move_on_after(3 * self.settings.kill_grace + 5.0):
                await self._all_done.wait()
