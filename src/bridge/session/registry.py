"""All sessions of the bridge: their children's environment, the limit on their number, lookup,
drain and shutdown.

The registry owns each session's lifetime: it starts the session's task in its own task group and,
when that task ends however it ends, forgets the session (`try/finally`). A session therefore
needs no way back to the registry, and a lookup never finds a session that has ended.

Each session also counts toward its identity's fair share (`--max-sessions-per-credential`): the
bearer token's credential id, or with auth off a keyed hash of the mapped `--header-env` values.
Sessions with neither (auth off, nothing mapped) have only the global limit.

Session ids name their replica (`<replica>.<random>`), so a balancer can route on the prefix and a
lookup that misses can say why: another replica's id, one that ended here, or one never given.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from bridge.child import Child
from bridge.config import Settings
from bridge.fork import ForkServer
from bridge.memory import trim_heap_while_running
from bridge.metrics import BridgeMetrics
from bridge.observability import session_context
from bridge.pool import ChildPool
from bridge.security import HeaderEnv
from bridge.session.session import Session
from bridge.streams import Destination

log = logging.getLogger("bridge.registry")

D = TypeVar("D", bound=Destination)

ENDED_REMEMBERED = 4096  # ids of ended sessions kept to tell "expired" from "unknown"

# Why a session id names no live session here (the metrics reason of its 404).
OTHER_REPLICA = "other_replica_session"
EXPIRED = "expired_session"
UNKNOWN = "unknown_session"


class Unavailable(Exception):
    """No new session now: at max sessions, at the credential's limit, or shutting down (503 +
    Retry-After); `reason` is the metrics label of the refusal."""

    def __init__(self, message: str, reason: str = "unavailable") -> None:
        super().__init__(message)
        self.reason = reason


CREDENTIAL_LIMIT = "credential_limit"


class Registry:
    """The live sessions, by id once published."""

    def __init__(
        self,
        settings: Settings,
        task_group: TaskGroup,
        metrics: BridgeMetrics,
        header_env: HeaderEnv,
        base_env: Mapping[str, str],
        fork: ForkServer | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.header_env = header_env
        self.base_env = dict(base_env)  # the bridge's environment as every child gets it, made once
        self.fork = fork
        self.spawn_failed_at = -1.0  # monotonic time of the last session child that could not start
        self._tg = task_group
        self._published: dict[str, Session[Any]] = {}
        self._live: set[Session[Any]] = set()  # started and not yet finished (published or not)
        self._starting = 0  # sessions whose child is being started: they count toward the limit
        self._per_identity: collections.Counter[str] = collections.Counter()  # starting or live, by identity
        self._identity_of: dict[Session[Any], str] = {}  # the sessions counted in `_per_identity`
        self._identity_key = secrets.token_bytes(16)  # for hashing mapped header values, never shown
        self._ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.replica = settings.replica
        self._prefix = self.replica + "."
        self.accepting = True
        self.draining = False
        self._all_done = anyio.Event()
        # Children made ahead only when they all look alike: never with per-session header values.
        self.pool = (
            ChildPool(settings.prespawn, self._spawn_base, settings.kill_grace)
            if settings.prespawn and not header_env
            else None
        )

    async def start(self) -> None:
        log.info("replica %s: session ids start with %r", self.replica, self._prefix)
        self._tg.start_soon(trim_heap_while_running, self.metrics.traffic)
        if self.pool is not None:
            await self._tg.start(self.pool.run)

    @property
    def child_mode(self) -> str:
        """How the next child starts: `fork` (from the template), or `exec`."""
        return self.fork.mode if self.fork is not None else "exec"

    async def start_child(self, env: Mapping[str, str]) -> Child:
        """Start one child, forked while there is a template, not counted (a readiness probe's)."""
        return await Child.spawn(self.settings.command, env, self.settings.cwd, self.fork)

    def start_task(self, function: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `function` in the registry's task group (ended with the bridge)."""
        self._tg.start_soon(function)

    async def spawn_child(self, env: Mapping[str, str]) -> Child:
        """Start one session's child (counted; a failure is counted and raised as OSError)."""
        try:
            child = await self.start_child(env)
        except OSError:
            self.metrics.spawn_failures.inc()
            self.spawn_failed_at = time.monotonic()
            raise
        self.metrics.children_spawned.inc()
        return child

    async def _spawn_base(self) -> Child:
        return await self.spawn_child(self.base_env)

    async def open(
        self, label: str, default: Callable[[], D], headers: Mapping[str, str], credential: str | None = None
    ) -> Session[D]:
        """Start a session and its child; `Unavailable` at the limit or during shutdown.

        `default` makes the destination for the child's messages no request claims. Mapped
        request `headers` become the child's variables (an `HttpError` when one is missing).
        """
        if not self.accepting or len(self._live) + self._starting >= self.settings.max_sessions:
            raise Unavailable("at max sessions" if self.accepting else "draining: this replica takes no new session")
        env: Mapping[str, str] = (
            self.header_env.environment(self.base_env, headers) if self.header_env else self.base_env
        )
        identity = self._identity(credential, env)
        if identity is not None and self._per_identity[identity] >= self.settings.credential_limit:
            limit = self.settings.credential_limit
            raise Unavailable(f"this credential already has {limit} sessions open, its limit "
                              f"(--max-sessions-per-credential {limit}); end one first", CREDENTIAL_LIMIT)
        session_id = self._prefix + secrets.token_urlsafe(32)
        session = Session(session_id, label, default(), self.settings, self.metrics, env, credential)
        self._starting += 1
        if identity is not None:
            self._identity_of[session] = identity
            self._per_identity[identity] += 1
        try:
            try:
                with session_context(session.tag):
                    child = await self.pool.take() if self.pool is not None else None
                    if child is None:
                        child = await self.spawn_child(env)
            finally:
                self._starting -= 1
            if self.draining:  # its child started while the drain began
                session.end_when_idle_for(min(self.settings.drain_idle, self.settings.idle_timeout))
            self._live.add(session)
            await self._tg.start(self._run, session, child)
        except BaseException:
            self._release(session)  # no session runs: its share is free again
            raise
        return session

    def _identity(self, credential: str | None, env: Mapping[str, str]) -> str | None:
        """Whose fair share a session counts toward: its credential id; with auth off, a keyed hash of
        its mapped header values (all of them, in mapping order); None when there is neither."""
        if credential is not None:
            return credential
        if not self.header_env:
            return None
        digest = hashlib.blake2b(key=self._identity_key, digest_size=16)
        for mapping in self.header_env.mappings:
            digest.update(env.get(mapping.var, "").encode("utf-8", "surrogateescape") + b"\0")
        return "h:" + digest.hexdigest()

    def _release(self, session: Session[Any]) -> None:
        """The session no longer counts toward its identity's share (once; later calls do nothing)."""
        identity = self._identity_of.pop(session, None)
        if identity is None:
            return
        left = self._per_identity[identity] - 1
        if left > 0:
            self._per_identity[identity] = left
        else:
            del self._per_identity[identity]

    async def _run(self, session: Session[Any], child: Child, *, task_status: TaskStatus[None]) -> None:
        self.metrics.session_opened(session.label)
        try:
            await session.run(child, task_status=task_status)
        finally:
            self._release(session)
            if self._published.pop(session.id, None) is not None:
                self._ended[session.id] = None
                if len(self._ended) > ENDED_REMEMBERED:
                    self._ended.popitem(last=False)
            self._live.discard(session)
            self.metrics.session_closed(session.label)
            if not self._live and not self.accepting:
                self._all_done.set()

    def publish(self, session: Session[D]) -> str:
        """Make the session reachable by its id (for Streamable HTTP: once the child answered)."""
        if not session.ended.is_set():
            self._published[session.id] = session
            with session_context(session.tag):
                log.info("session %s started (%s)", session.id, session.label)
        return session.id

    def get(self, session_id: str, label: str, credential: str | None) -> Session[Any] | None:
        """The live session of that id and transport, if the caller holds the credential that made it.

        Another credential gets None, as for an unknown id: it may not even learn the session exists.
        """
        session = self._published.get(session_id)
        if session is None or session.ended.is_set() or session.label != label or session.credential != credential:
            return None
        return session

    def why_missing(self, session_id: str) -> str:
        """Why `get` found no session for this id: the reason its 404 is counted under."""
        if not session_id.startswith(self._prefix):
            return OTHER_REPLICA
        ending = self._published.get(session_id)  # ended, its child still being ended
        return EXPIRED if ending is not None or session_id in self._ended else UNKNOWN

    @property
    def count(self) -> int:
        return len(self._live)

    async def drain(self, deadline: float) -> None:
        """Take no new session; let the existing ones go on until they end, stay idle for
        `--drain-idle` seconds, or `deadline` seconds pass (a rolling update costs no busy session)."""
        self.accepting = False
        self.draining = True
        self.metrics.draining.set(1)
        idle = min(self.settings.drain_idle, self.settings.idle_timeout)
        log.info("draining: %d sessions may go on for up to %gs (idle ones end after %gs)",
                 len(self._live), deadline, idle)
        if not self._live:
            self._all_done.set()
        for session in list(self._live):
            session.end_when_idle_for(idle)
        with anyio.move_on_after(deadline):
            await self._all_done.wait()

    async def shutdown(self, grace: float) -> None:
        """Refuse new sessions, let in-flight requests finish within `grace`, end every session."""
        self.accepting = False
        if not self._live:
            self._all_done.set()
        with anyio.move_on_after(grace):
            for session in list(self._live):
                await session.wait_quiet()
        for session in list(self._live):
            session.end("bridge shutdown")
        with anyio.move_on_after(3 * self.settings.kill_grace + 5.0):
            await self._all_done.wait()
