"""Children started ahead (`--prespawn N`), so a new session does not wait for a process start.

Only children with the bridge's own environment can be made ahead: a session whose environment
comes from request headers always gets a fresh child. A child that exits while it waits is thrown
away and replaced. Spawn failures back off (doubling up to 30 s) instead of spinning. At shutdown
every waiting child is ended like any session's child.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskStatus

from bridge.child import Child

log = logging.getLogger("bridge.pool")

MAX_BACKOFF = 30.0
REFILL_DELAY = 0.05


class ChildPool:
    """Up to `size` started children, handed out one at a time by `take`."""

    def __init__(self, size: int, spawn: Callable[[], Awaitable[Child]], kill_grace: float) -> None:
        self.size = size
        self._spawn = spawn
        self._kill_grace = kill_grace
        self._ready: collections.deque[Child] = collections.deque()
        self._wanted = anyio.Event()

    async def take(self) -> Child | None:
        """A started child that is still running, or None when none is ready."""
        self._wanted.set()
        while self._ready:
            child = self._ready.popleft()
            if child.returncode is None:
                return child
            log.warning("prespawned child %d exited (code %s) while waiting; discarded", child.pid, child.returncode)
            await child.terminate(self._kill_grace)
        return None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep the pool full until cancelled; then end every waiting child."""
        task_status.started()
        backoff = 0.5
        try:
            while True:
                while len(self._ready) < self.size:
                    try:
                        self._ready.append(await self._spawn())
                        backoff = 0.5
                    except OSError as exc:
                        log.error("prespawn failed: %s (next try in %gs)", exc, backoff)
                        await anyio.sleep(backoff)
                        backoff = min(backoff * 2, MAX_BACKOFF)
                self._wanted = anyio.Event()
                await self._wanted.wait()
                # Refill once the session that took a child is under way: a process start costs a
                # core for a few milliseconds, which that session's own start should not share.
                await anyio.sleep(REFILL_DELAY)
        finally:
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as tg:
                    while self._ready:
                        tg.start_soon(self._ready.popleft().terminate, self._kill_grace)
