"""The 1:1 session between the local client (stdio) and the remote (HTTP), kept across the remote's
losses.

- Every client line goes out as the bytes it came as (ids as the client wrote them), each POST in
  its own task; the next line waits until the server has taken the previous one (its answer's
  headers arrived; at most `ORDER_WAIT` for a request), so messages arrive in order.
- Every message from the server is written to stdout as it arrived. An answer is written only
  while its request is pending, so a request gets exactly one answer: the server's, or the error
  `bridge connect` gives when it cannot be had (never a hang).
- The client's `initialize`, `notifications/initialized`, `logging/setLevel` and
  `resources/subscribe` calls are kept. When the server answers 404 for the session (or ends its
  legacy stream), the next message first opens a new remote session by replaying them (with ids
  of our own, their answers swallowed), then goes out again: the client sees one answer. A request
  the server had already taken when the session ended is not re-sent (it may have run): it gets
  an error.
- Before `initialize`, `bridge connect` answers `ping` and the `server/discover` probe (-32601,
  so a client falls back to the handshake, which every remote understands) itself.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterable, Collection
from dataclasses import dataclass
from typing import Final

import anyio
import httpx
from anyio.abc import TaskGroup

from bridge.connect.client import JSON
from bridge.connect.handshake import Awaited, open_remote
from bridge.connect.messages import (
    CANCELLED,
    DISCOVER,
    INITIALIZE,
    INITIALIZED,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PING,
    SET_LEVEL,
    SUBSCRIBE,
    UNSUBSCRIBE,
    Head,
    Key,
    NotJson,
    error,
    heads,
    is_error,
    params,
    result,
    with_id,
)
from bridge.connect.options import ConnectOptions
from bridge.connect.problems import RemoteProblem, server_message
from bridge.connect.remote import Link, Remote
from bridge.connect.stdio import StdoutLines

log = logging.getLogger("bridge.connect")

ORDER_WAIT: Final = 0.5
"""Longest wait for a request POST's answer headers before the next client line goes out (a
server answering with JSON sends its headers only with the answer)."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One client line: a message or a batch, and the ids of its requests."""

    raw: bytes
    found: list[Head]
    keys: frozenset[Key]

    @property
    def only_answers(self) -> bool:
        """Only answers to the server and cancels: meaningless to a new session."""
        return all(head.is_response or head.method == CANCELLED for head in self.found)


def _nothing() -> None:
    pass


class Relay:
    def __init__(self, http: httpx.AsyncClient, options: ConnectOptions, stdout: StdoutLines) -> None:
        self.url = options.url
        self.exit_code: int | None = None
        self._http = http
        self._transport = options.transport
        self._timeout = options.timeout
        self._stdout = stdout
        self._remote: Remote | None = None
        self._lock = anyio.Lock()  # one opening at a time
        self._pending: set[Key] = set()
        self._awaited: dict[Key, Awaited] = {}
        self._scopes: dict[Key, tuple[anyio.CancelScope, frozenset[Key]]] = {}
        self._connected_once = False
        self._init: bytes | None = None
        self._initialized: bytes | None = None
        self._level: bytes | None = None
        self._subscriptions: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._tag = f"bridge-connect-{os.getpid()}"
        self._reading = anyio.CancelScope()
        self._link: Link
        self._units: TaskGroup

    # ----- the loop --------------------------------------------------------------------------

    async def run(self, lines: AsyncIterable[bytes]) -> int:
        """Relay until stdin ends (or `stop`); then end the remote session. The exit code."""
        async with anyio.create_task_group() as tasks:
            self._link = Link(self._http, self.url, self, tasks, self._timeout)
            async with anyio.create_task_group() as units:
                self._units = units
                with self._reading:
                    async for line in lines:
                        await self._on_line(line)
                        if self.exit_code is not None:
                            break
                units.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await self._end()
            tasks.cancel_scope.cancel()
        return self.exit_code or 0

    def stop(self) -> None:
        """Stop reading the client (a signal, or the client stopped reading us)."""
        self._reading.cancel()

    async def _end(self) -> None:
        remote, self._remote = self._remote, None
        if remote is not None:
            with anyio.move_on_after(self._timeout):
                await remote.close()
            log.info("closed %s", remote.name)

    async def _on_line(self, line: bytes) -> None:
        try:
            found = heads(line)
        except NotJson:
            log.warning("the client sent a line that is not JSON: answered with a parse error")
            await self._write(error(None, "Parse error", PARSE_ERROR))
            return
        if not found:
            await self._write(error(None, "Invalid Request: an empty batch", INVALID_REQUEST))
            return
        single = found[0] if len(found) == 1 and not line.lstrip().startswith(b"[") else None
        if single is not None and single.is_request and single.method == INITIALIZE:
            await self._initialize(line, single)
            return
        if self._init is None:
            await self._before_initialize(found)
            return
        if single is not None:
            self._note(line, single)
        keys = frozenset(head.key for head in found if head.is_request and head.key is not None)
        self._pending |= keys
        accepted = anyio.Event()
        self._units.start_soon(self._send, Unit(line, found, keys), accepted)
        with anyio.move_on_after(ORDER_WAIT if keys else self._timeout):
            await accepted.wait()

    async def _before_initialize(self, found: list[Head]) -> None:
        for head in found:
            if not head.is_request:
                log.debug("%s before initialize: dropped", head.method or "an answer")
            elif head.method == DISCOVER:
                await self._write(error(head.id, "Method not found", METHOD_NOT_FOUND))
            elif head.method == PING:
                await self._write(result(head.id, {}))
            else:
                await self._write(error(head.id, "bridge connect: not initialized: send initialize first",
                                        INVALID_REQUEST))

    def _note(self, line: bytes, head: Head) -> None:
        """Keep what a new remote session must be told again; follow cancels."""
        method = head.method
        if method == INITIALIZED:
            self._initialized = line
        elif method == SET_LEVEL and head.is_request:
            self._level = line
        elif method in (SUBSCRIBE, UNSUBSCRIBE) and head.is_request:
            uri = params(line).get("uri")
            if isinstance(uri, str):
                if method == SUBSCRIBE:
                    self._subscriptions[uri] = line
                else:
                    self._subscriptions.pop(uri, None)
        elif method == CANCELLED:
            target = params(line).get("requestId")
            if type(target) is int or type(target) is str:
                self._cancel(target)

    def _cancel(self, key: Key) -> None:
        """The client gave up on `key`: no answer is due any more; stop reading its stream."""
        self._pending.discard(key)
        entry = self._scopes.get(key)
        if entry is not None and not self.waiting(entry[1]):
            entry[0].cancel()

    # ----- initialize ------------------------------------------------------------------------

    async def _initialize(self, line: bytes, head: Head) -> None:
        key = head.key
        if key is None:
            await self._write(error(head.id, "Invalid Request: initialize needs a string or integer id",
                                    INVALID_REQUEST))
            return
        async with self._lock:
            old, self._remote = self._remote, None
            self._init = self._initialized = self._level = None
            self._subscriptions.clear()
            if old is not None:
                log.info("the client initializes again: ending %s", old.name)
                await old.close()
            try:
                remote, answer = await self._open(line, key)
            except RemoteProblem as problem:
                log.error("%s: %s", self.url, problem)
                await self._write(error(head.id, f"bridge connect: {self.url}: {problem}"))
                if not self._connected_once:
                    self.exit_code = 1
                return
            if is_error(answer):
                log.warning("the server refused initialize: %s", server_message(answer, JSON) or "an error")
                await remote.close()
            else:
                self._remote, self._init, self._connected_once = remote, line, True
                log.info("connected to %s: %s", self.url, remote.name)
        await self._write(answer)

    async def _open(self, init: bytes, key: Key) -> tuple[Remote, bytes]:
        awaited = self._awaited[key] = Awaited()
        try:
            with anyio.fail_after(self._timeout):
                return await open_remote(self._link, self._transport, init, key, awaited)
        except TimeoutError:
            raise RemoteProblem(f"no answer to initialize within --timeout ({self._timeout:g}s)") from None
        finally:
            self._awaited.pop(key, None)

    async def _current(self) -> Remote:
        """The live remote session, opened anew (replaying the handshake) if the server ended it."""
        async with self._lock:
            remote = self._remote
            if remote is not None and not remote.is_lost:
                return remote
            if self._init is None:
                raise RemoteProblem("not initialized")
            with anyio.CancelScope(shield=True):
                fresh = await self._reopen(remote)
            self._remote = fresh
            return fresh

    async def _reopen(self, old: Remote | None) -> Remote:
        assert self._init is not None
        if old is not None:
            await old.close()
        key = self._private()
        remote, answer = await self._open(with_id(self._init, key), key)
        if is_error(answer):
            await remote.close()
            refused = server_message(answer, JSON) or "an error"
            raise RemoteProblem(f"the server refused the replayed initialize: {refused}")
        if self._initialized is not None:
            outcome = await remote.post(self._initialized, frozenset(), _nothing)
            if outcome.kind != "sent":
                await remote.close()
                raise RemoteProblem(outcome.problem or "the new remote session answered 404 at once")
            remote.listen()
        replays = [raw for raw in (self._level, *self._subscriptions.values()) if raw is not None]
        for raw in replays:
            await self._replay(remote, raw)
        more = f" and {len(replays)} more" if replays else ""
        log.warning("the remote session was gone: opened %s, replaying initialize%s", remote.name, more)
        return remote

    async def _replay(self, remote: Remote, raw: bytes) -> None:
        key = self._private()
        awaited = self._awaited[key] = Awaited()
        try:
            with anyio.move_on_after(self._timeout):
                outcome = await remote.post(with_id(raw, key), frozenset({key}), _nothing)
                if outcome.kind == "sent" and awaited.raw is None:
                    await awaited.event.wait()
        finally:
            self._awaited.pop(key, None)

    def _private(self) -> str:
        return f"{self._tag}-{next(self._ids)}"

    # ----- client messages out ---------------------------------------------------------------

    async def _send(self, unit: Unit, accepted: anyio.Event) -> None:
        scope = anyio.CancelScope()
        for key in unit.keys:
            self._scopes[key] = (scope, unit.keys)
        try:
            with scope:
                await self._post(unit, accepted)
        except Exception as exc:  # a fault of ours ends this message, never the session
            log.error("internal error: %r", exc, exc_info=log.isEnabledFor(logging.DEBUG))
            with contextlib.suppress(Exception):
                await self._fail(unit.keys, "internal error in bridge connect")
        finally:
            accepted.set()
            for key in unit.keys:
                if self._scopes.get(key, (None,))[0] is scope:
                    del self._scopes[key]

    async def _post(self, unit: Unit, accepted: anyio.Event) -> None:
        for _attempt in range(2):
            try:
                remote = await self._current()
            except RemoteProblem as problem:
                await self._fail(unit.keys, f"{self.url}: {problem}")
                return
            outcome = await remote.post(unit.raw, unit.keys, accepted.set)
            if outcome.kind == "not_found":
                remote.lose("it answered 404 for the session")
                if unit.only_answers:
                    log.info("an answer or cancel for the ended session was dropped")
                    return
                continue
            if outcome.kind == "failed":
                await self._fail(unit.keys, f"{self.url}: {outcome.problem}")
                return
            if self._initialized is not None:
                remote.listen()
            if remote.answers_on_post:
                await self._fail(unit.keys, "the server ended its answer stream without answering")
            else:
                remote.inflight.update(key for key in unit.keys if key in self._pending)
                if remote.is_lost:
                    await self._fail(unit.keys, "the remote session ended before it answered")
            return
        await self._fail(unit.keys, "the new remote session was gone at once, too")

    async def _fail(self, keys: Collection[Key], problem: str) -> None:
        """Answer every request of `keys` still pending with an error saying why."""
        unanswered = [key for key in keys if key in self._pending]
        if not unanswered:
            return
        self._pending.difference_update(unanswered)
        log.error("%s (%d request(s) answered with this error)", problem, len(unanswered))
        for key in unanswered:
            await self._write(error(key, f"bridge connect: {problem}"))

    async def _write(self, raw: bytes) -> None:
        await self._stdout.write(raw)

    # ----- the sink: server messages in ------------------------------------------------------

    async def deliver(self, raw: bytes, found: list[Head]) -> None:
        forward = False
        for head in found:
            if not head.is_response:
                forward = True
                continue
            key = head.key
            if key is not None and key in self._awaited:
                self._awaited[key].set(raw)
            elif key is None or key in self._pending:
                forward = True
                if key is not None:
                    self._pending.discard(key)
                    if self._remote is not None:
                        self._remote.inflight.discard(key)
            else:
                log.debug("an answer no request waits for was dropped (id %r)", key)
        if forward:
            await self._write(raw)

    def waiting(self, keys: Collection[Key]) -> bool:
        for key in keys:
            if key in self._pending:
                return True
            awaited = self._awaited.get(key)
            if awaited is not None and awaited.raw is None:
                return True
        return False

    def lost(self, remote: Remote) -> None:
        if remote.inflight:
            keys = frozenset(remote.inflight)
            remote.inflight.clear()
            self._link.tasks.start_soon(self._fail, keys, "the remote session ended before it answered")
        if remote is self._remote:
            log.info("%s is gone: the next message opens a new one", remote.name)
