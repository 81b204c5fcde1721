"""One client session: its child and the pumps between them, as one task group.

- One task writes the child's stdin, fed by a bounded queue: callers enqueue with a deadline and
  never touch the pipe, so a child that stops reading blocks only that task, and ending the
  session (which cancels it) never waits behind a blocked write.
- One task reads stdout and routes each line (through the exchange table) to a destination.
- One task waits for the child's exit; the session ends once the exit and the end of stdout have
  both been seen (the second within the kill grace), so the last lines are always delivered.
- One task keeps time: request deadlines and the idle timeout, woken when the first request of
  an empty table opens.
- stderr is drained and logged.

A message passes through as the bytes it was written as, except its id: the one change is made in
place (`codec.replace_id`). The session knows nothing of HTTP or of transports: it is handed the
destination for messages no request claims (`default`), and requests come with their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskStatus

from bridge import codec, jsonrpc
from bridge.child import Child, LineTooLong
from bridge.config import Settings
from bridge.metrics import BridgeMetrics
from bridge.observability import SessionTag, session_context
from bridge.session.exchanges import Exchange, ExchangeTable
from bridge.session.stdin import QueueClosed, StdinQueue
from bridge.streams import Destination

log = logging.getLogger("bridge.session")

D = TypeVar("D", bound=Destination)


class SessionEnded(Exception):
    """The session ended while a message was on its way in."""


class ChildNotReading(Exception):
    """The child's stdin queue stayed full until the message's deadline: it is not reading."""


def one_line(raw: bytes) -> bytes:
    """A JSON text as one line: raw newlines in JSON are whitespace, so spaces do the same job."""
    return raw.replace(b"\n", b" ").replace(b"\r", b" ")


class Session(Generic[D]):
    """One client session and its child process."""

    def __init__(
        self,
        session_id: str,
        label: str,
        default: D,
        settings: Settings,
        metrics: BridgeMetrics,
        env: Mapping[str, str],
        credential: str | None = None,
    ) -> None:
        self.label = label  # the transport's name, for metrics and lookups
        self.default = default  # where the child's messages go when no request claims them
        # `server/discover` is answered here (a client's probe, which a handshake-era child cannot
        # answer), unless the bridge itself probes the child's era (its 2026-07-28 children).
        self.forwards_discover = False
        # Streams that keep the session from idling out while nothing else moves (2026-07-28
        # `subscriptions/listen`), except during a drain.
        self.holds = 0
        self._drained = False
        self.settings = settings
        self.metrics = metrics
        self.traffic = metrics.traffic
        self.env = env  # the environment this session's child was created with
        self.credential = credential  # the credential the session is bound to (None: auth off)
        self.id = session_id  # every log line of the session carries it; clients learn it once published
        self.tag = SessionTag(self.id)
        self._idle = settings.idle_timeout
        self._rearm = anyio.Event()  # set when the idle timeout shortens (a drain)
        self.exchanges: ExchangeTable[Destination] = ExchangeTable(settings.request_timeout)
        self.protocol_version: str | None = None
        self.version_noted = False  # a different MCP-Protocol-Version header was logged once
        self.initialized = anyio.Event()
        self.ended = anyio.Event()
        self.end_reason = ""
        self.last_activity = time.monotonic()
        self.child: Child | None = None
        self._stdin = StdinQueue(settings.max_queue)
        self._scope: anyio.CancelScope | None = None
        self._quiet: anyio.Event | None = None  # set when the last request in flight is over
        self._exited = anyio.Event()
        self._stdout_done = anyio.Event()

    # ----- lifecycle -------------------------------------------------------------------------

    async def run(self, child: Child, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Pump `child` until the session ends, then end it. Never raises once started."""
        with session_context(self.tag):
            self.child = child
            try:
                async with anyio.create_task_group() as tg:
                    self._scope = tg.cancel_scope
                    tg.start_soon(self._write_stdin, child)
                    tg.start_soon(self._read_stdout, child)
                    tg.start_soon(child.drain_stderr)
                    tg.start_soon(self._watch_exit, child)
                    tg.start_soon(self._keep_time)
                    task_status.started()
                    if self.ended.is_set():
                        tg.cancel_scope.cancel()
            except Exception:
                log.exception("session failed")
                self.end("internal error")
            finally:
                with anyio.CancelScope(shield=True):
                    await self._finish(child)

    def end(self, reason: str) -> None:
        """End the session now (idempotent): its id answers 404 at once, its streams close."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        self._stdin.close()  # whoever waits to enqueue learns it now; the writer stops
        with session_context(self.tag):
            log.info("session ending: %s", reason)
        if self._scope is not None:
            self._scope.cancel()

    async def _finish(self, child: Child) -> None:
        self.end(self.end_reason or "stopped")
        reason = self.end_reason
        ended = self.exchanges.close()
        if ended:
            # Each waiting client gets its error at once: no stalled stream holds up another.
            with anyio.move_on_after(1.0):
                async with anyio.create_task_group() as tg:
                    for exchange in ended:
                        body = jsonrpc.error(exchange.client_id, jsonrpc.CONNECTION_CLOSED, f"Session ended: {reason}")
                        tg.start_soon(self._deliver, exchange.dest, body, True)
        self._now_quiet()
        self.default.close()
        code = await child.terminate(self.settings.kill_grace)
        log.info("child %d ended with exit code %s", child.pid, code)
        self.metrics.child_exited(code)
        if child.stderr_suppressed:
            self.metrics.stderr_suppressed.inc(child.stderr_suppressed)

    async def _watch_exit(self, child: Child) -> None:
        code = await child.process.wait()
        self._exited.set()
        with anyio.move_on_after(self.settings.kill_grace):
            await self._stdout_done.wait()  # its last lines are delivered before the session ends
        if not self.ended.is_set():
            tail = "\n".join(child.stderr_tail)
            log.warning("child %d exited with code %s; stderr tail:\n%s", child.pid, code, tail or "(empty)")
        self.end(f"child exited with code {code}")

    async def _read_stdout(self, child: Child) -> None:
        try:
            await child.read_lines(self.settings.max_line_size, self._on_line)
        except LineTooLong as exc:
            log.error("%s: ending the session", exc)
            self.end("child stdout line too long")
            return
        self._stdout_done.set()
        with anyio.move_on_after(self.settings.kill_grace + 1.0):
            await self._exited.wait()
            return  # the exit watcher ends the session
        self.end("child closed stdout")

    async def _keep_time(self) -> None:
        """Answer requests past their deadline with a timeout error (and cancel them in the child);
        end the session when nothing has moved for the idle timeout and nothing is in flight.

        New requests never need to wake it: one opened later has a later deadline than
        `now + timeout`, so sleeping no longer than that never oversleeps one. Only a drain, which
        shortens the idle timeout, does.
        """
        timeout = self.settings.request_timeout
        while True:
            now = time.monotonic()
            for exchange in self.exchanges.expire(now):
                await self._time_out(exchange)
            idle = self._idle
            if now - self.last_activity >= idle:
                if not len(self.exchanges) and not (self.holds and not self._drained):
                    self.end(f"idle for {idle:g}s")
                    return
                self.last_activity = now  # a request is still in flight: not idle
            deadline = min(self.last_activity + idle, self.exchanges.next_deadline() or now + timeout)
            self._rearm = anyio.Event()
            with anyio.move_on_after(deadline - now):
                await self._rearm.wait()

    def end_when_idle_for(self, seconds: float) -> None:
        """Shorten the idle timeout (a drain: idle sessions end soon, busy ones go on)."""
        self._drained = True  # streams that hold the session open (`holds`) no longer do
        if seconds < self._idle:
            self._idle = seconds
            self._rearm.set()

    async def _time_out(self, exchange: Exchange[Destination]) -> None:
        log.warning("request %r (%s) timed out", exchange.client_id, exchange.method)
        self._now_quiet()
        error = jsonrpc.error(exchange.client_id, jsonrpc.REQUEST_TIMEOUT, "Request timed out")
        await self._deliver(exchange.dest, error, True)
        # A child that is not reading would not read this either: never wait for it.
        cancel = jsonrpc.cancelled(exchange.child_id, "request timed out at the bridge")
        try:
            if not self._stdin.put_nowait(cancel):
                log.debug("cancel for timed-out request %r not sent: the child's input is full", exchange.client_id)
        except QueueClosed:
            pass

    async def wait_quiet(self) -> None:
        """Return once no request is in flight (at once when none is)."""
        while len(self.exchanges):
            self._quiet = anyio.Event()
            await self._quiet.wait()

    def _now_quiet(self) -> None:
        if self._quiet is not None and not len(self.exchanges):
            self._quiet.set()

    # ----- client → child --------------------------------------------------------------------

    async def submit(self, message: dict[str, Any], raw: bytes, dest: Destination) -> None:
        """Hand one client message (parsed, and as written) to the child; a request's answer goes
        to `dest`. `SessionEnded` once the session is over, `ChildNotReading` when the child's
        input stays full until the message's deadline (a request then gets its timeout error)."""
        if self.ended.is_set():
            raise SessionEnded(self.end_reason)
        now = self.last_activity = time.monotonic()
        method = message.get("method")
        if b"\n" in raw or b"\r" in raw:
            raw = one_line(raw)
        if type(method) is str and "id" in message:
            await self._submit_request(message, method, raw, dest, now)
        elif method == jsonrpc.CANCELLED:
            await self._submit_cancel(message)
        else:
            await self._enqueue(raw, now + self.settings.request_timeout)

    async def _submit_request(self, message: dict[str, Any], method: str, raw: bytes, dest: Destination,
                              now: float) -> None:
        if method == jsonrpc.DISCOVER and not self.forwards_discover:  # a client's 2026-07-28 probe
            await self._deliver(dest, jsonrpc.error(message["id"], jsonrpc.METHOD_NOT_FOUND, "Method not found"), True)
            return
        exchange = self.exchanges.open(message["id"], method, dest, jsonrpc.progress_token(message), now)
        try:
            await self._enqueue(_with_id(raw, message, exchange.child_id), exchange.deadline)
        except ChildNotReading:
            if self.exchanges.answered(exchange.child_id) is not None:  # not yet timed out by the clock
                await self._time_out(exchange)

    async def _submit_cancel(self, message: dict[str, Any]) -> None:
        params = message.get("params")
        exchange = self.exchanges.cancel(params.get("requestId")) if isinstance(params, dict) else None
        if exchange is None or not isinstance(params, dict):
            log.debug("cancel for a request not in flight ignored")
            return
        self._now_quiet()
        await self._enqueue(codec.dumps({**message, "params": {**params, "requestId": exchange.child_id}}),
                            time.monotonic() + self.settings.request_timeout)
        error = jsonrpc.error(exchange.client_id, jsonrpc.REQUEST_CANCELLED, "Request cancelled")
        self._count_drop(await exchange.dest.cancelled(error))

    async def _enqueue(self, data: bytes, deadline: float) -> None:
        try:
            await self._stdin.put(data, deadline)
        except QueueClosed:
            raise SessionEnded(self.end_reason) from None
        except TimeoutError:
            log.warning("the child has not read its input for a while: message not sent")
            raise ChildNotReading from None

    async def _write_stdin(self, child: Child) -> None:
        """The one writer of the child's stdin."""
        traffic = self.traffic
        while (batch := await self._stdin.take_all()) is not None:
            if not await child.write_lines(batch):
                self.end("child stdin closed")
                return
            traffic.messages_in += len(batch)
            traffic.bytes_in += sum(map(len, batch)) if len(batch) > 1 else len(batch[0])

    # ----- child → client --------------------------------------------------------------------

    async def _on_line(self, line: bytes) -> None:
        try:
            if len(line) >= codec.LARGE_LINE and await self._answer_large(line):
                return
            message = codec.loads(line)
        except codec.DecodeError:
            log.warning("child wrote a line that is not JSON (dropped): %r", line[:200])
            self.metrics.dropped_not_json.inc()
            return
        self._count_out(line)
        if isinstance(message, dict):
            await self._route(message, line)
        elif isinstance(message, list):
            members = codec.split_array(line)
            for item, raw in zip(message, members, strict=len(members) == len(message)):
                if isinstance(item, dict):
                    await self._route(item, raw)
        else:
            log.warning("child wrote JSON that is not a message (dropped): %r", line[:200])

    async def _answer_large(self, line: bytes) -> bool:
        """Deliver a large answer without decoding it; False when the line is not one (the
        ordinary path takes it)."""
        span = codec.head_of_large(line)
        if span is None:
            return False
        self._count_out(line)
        self.traffic.messages_out += 1
        exchange = self._settle(span.value)
        if exchange is None:
            return True
        if exchange.method == jsonrpc.INITIALIZE:
            self._note_initialized(codec.loads(line))
        await self._deliver(exchange.dest, codec.replace_id(line, span, exchange.client_id), True)
        return True

    def _count_out(self, line: bytes) -> None:
        self.last_activity = time.monotonic()
        self.traffic.bytes_out += len(line)

    async def _route(self, message: dict[str, Any], raw: bytes) -> None:
        self.traffic.messages_out += 1
        method = message.get("method")
        if method is None:
            exchange = self._settle(message.get("id"))
            if exchange is None:
                return
            if exchange.method == jsonrpc.INITIALIZE:
                self._note_initialized(message)
            await self._deliver(exchange.dest, _with_id(raw, message, exchange.client_id), True)
            return
        if method == jsonrpc.PROGRESS:
            owner = self.exchanges.owner_of_token(jsonrpc.progress_token(message))
        else:
            owner = self.exchanges.sole()
        dest = owner.dest if owner is not None and owner.dest.takes_extras else self.default
        await self._deliver(dest, raw if b"\r" not in raw else raw.replace(b"\r", b" "), False)

    def _settle(self, child_id: object) -> Exchange[Destination] | None:
        """The exchange this answer completes, now over (None: unknown, cancelled or timed out)."""
        exchange = self.exchanges.answered(child_id)
        if exchange is None:
            log.debug("answer for an unknown, cancelled or timed-out request dropped")
            return None
        self._now_quiet()
        self.metrics.observe_request(exchange.method, time.monotonic() - exchange.started)
        return exchange

    async def _deliver(self, dest: Destination, data: bytes, final: bool) -> None:
        self._count_drop(await dest.deliver(data, final))

    def _count_drop(self, reason: str | None) -> None:
        if reason is not None:
            self.metrics.dropped.labels(reason).inc()

    def _note_initialized(self, message: dict[str, Any]) -> None:
        result = message.get("result")
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        if isinstance(version, str):
            self.protocol_version = version
            log.info("child negotiated protocol version %s", version)
            self.initialized.set()

    def accepts_batches(self) -> bool:
        return self.protocol_version in jsonrpc.BATCH_VERSIONS

    def primes_streams(self) -> bool:
        """Whether its SSE streams start with a priming event: clients of 2025-11-25 on expect one,
        older ones may not understand an event without data."""
        return self.protocol_version is not None and self.protocol_version >= jsonrpc.PRIMING_SINCE


def _with_id(raw: bytes, message: dict[str, Any], new_id: object) -> bytes:
    """`raw` with its id replaced in place; re-encoded only when the id cannot be found by position."""
    span = codec.locate_id(raw, message["id"])
    if span is not None:
        return codec.replace_id(raw, span, new_id)
    return codec.dumps({**message, "id": new_id})
