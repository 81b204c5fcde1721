"""The figures of one target (the floor, or one bridge transport), measured with the same client code.

Every phase is bounded: each exchange by the session's timeout, each load run by its duration. The
numbers land in a flat dict of named figures (units in the names) that `report` turns into a table.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from bench import procfs, wire
from bench.clients import Session
from bench.echo_server import blob_text
from bench.stats import median, percentile

MiB = 1024 * 1024
OpenSession = Callable[[], Awaitable[Session]]
Figures = dict[str, float]


class ResultMismatch(RuntimeError):
    """A tool result did not come back exactly as the child sent it."""


@dataclass(frozen=True)
class Plan:
    """How much of each measurement to do; `quick()` is the cheaper variant for a fast check."""

    setup_sessions: int = 20
    setup_gap: float = 0.05  # seconds between two measured session setups (lets the last one end)
    warmup_calls: int = 20
    round_trips: int = 500
    concurrency: tuple[int, ...] = (1, 8, 32)
    seconds: float = 4.0
    large: tuple[tuple[int, int], ...] = ((1 * MiB, 5), (8 * MiB, 3))  # (size, repetitions)
    cpu_sessions: int = 8
    memory_sessions: int = 32

    @classmethod
    def quick(cls) -> Plan:
        return cls(setup_sessions=5, round_trips=100, seconds=1.0, large=((1 * MiB, 1), (8 * MiB, 1)))


@dataclass
class Target:
    """Where sessions come from, and which process is the server whose cost is counted."""

    name: str
    open: OpenSession
    server_pid: int | None = None  # the bridge; None for the floor (there the child is the server)

    def server_pids(self, sessions: Sequence[Session]) -> list[int]:
        if self.server_pid is None:
            return [s.child_pid for s in sessions if s.child_pid is not None]
        return [self.server_pid]

    def tree_pids(self, sessions: Sequence[Session]) -> list[int]:
        if self.server_pid is None:
            return self.server_pids(sessions)
        return [self.server_pid, *procfs.descendants(self.server_pid)]


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


async def echo(session: Session, text: str) -> None:
    got = wire.tool_text(await session.call_tool("echo", {"text": text}))
    if got != text:
        raise ResultMismatch(f"echo returned {got[:80]!r}, sent {text[:80]!r}")


async def measure_setup(target: Target, plan: Plan) -> Figures:
    samples: list[float] = []
    for _ in range(plan.setup_sessions):
        session = await target.open()
        samples.append(session.setup_seconds)
        await session.aclose()
        await anyio.sleep(plan.setup_gap)
    return {"setup_p50_ms": median(samples) * 1e3, "setup_p95_ms": percentile(samples, 95) * 1e3}


async def measure_round_trips(session: Session, plan: Plan) -> Figures:
    for i in range(plan.warmup_calls):
        await echo(session, f"warm-up {i}")
    samples: list[float] = []
    for i in range(plan.round_trips):
        started = time.perf_counter()
        await echo(session, f"call {i}")
        samples.append(time.perf_counter() - started)
    return {"rtt_p50_us": median(samples) * 1e6, "rtt_p99_us": percentile(samples, 99) * 1e6}


async def measure_large(session: Session, plan: Plan) -> Figures:
    figures: Figures = {}
    for size, repetitions in plan.large:
        expected = blob_text(size)
        samples: list[float] = []
        for _ in range(repetitions):
            started = time.perf_counter()
            got = wire.tool_text(await session.call_tool("blob", {"n": size}))
            samples.append(time.perf_counter() - started)
            if got != expected:
                raise ResultMismatch(
                    f"{size}-byte result differs from what the child sent ({len(got)} bytes)"
                )
        figures[f"large_{size // MiB}MiB_ms"] = median(samples) * 1e3
    return figures


async def _load(sessions: Sequence[Session], seconds: float) -> int:
    """Every session calls `echo` back to back until the deadline; returns the number of calls."""
    counts = [0] * len(sessions)
    deadline = time.perf_counter() + seconds

    async def drive(index: int, session: Session) -> None:
        while time.perf_counter() < deadline:
            await echo(session, f"session {index} call {counts[index]}")
            counts[index] += 1

    async with anyio.create_task_group() as tg:
        for index, session in enumerate(sessions):
            tg.start_soon(drive, index, session)
    return sum(counts)


async def measure_load(target: Target, sessions: Sequence[Session], plan: Plan) -> Figures:
    """Throughput with these sessions; CPU per call of the server, the tree and the client."""
    server, tree = target.server_pids(sessions), target.tree_pids(sessions)
    server_cpu, tree_cpu = procfs.total_cpu(server), procfs.total_cpu(tree)
    client_cpu, started = time.process_time(), time.perf_counter()
    calls = await _load(sessions, plan.seconds)
    elapsed = time.perf_counter() - started
    server_cpu = procfs.total_cpu(server) - server_cpu
    tree_cpu = procfs.total_cpu(tree) - tree_cpu
    client_cpu = time.process_time() - client_cpu
    n = len(sessions)
    per_call = 1e6 / max(calls, 1)
    return {
        f"tput_{n}_per_s": calls / elapsed,
        f"cpu_server_{n}_us_per_call": server_cpu * per_call,
        f"cpu_tree_{n}_us_per_call": tree_cpu * per_call,
        f"cpu_client_{n}_us_per_call": client_cpu * per_call,
        # Share of one core: near 100 % for the client would mean it, not the server, is the limit.
        f"busy_server_{n}_pct": 100 * server_cpu / elapsed,
        f"busy_client_{n}_pct": 100 * client_cpu / elapsed,
    }


def measure_memory(target: Target, sessions: Sequence[Session]) -> Figures:
    """RSS of the whole tree, and of the bridge alone (the floor has no such process)."""
    n = len(sessions)
    figures = {f"rss_tree_{n}_mib": procfs.total_rss(target.tree_pids(sessions)) / MiB}
    if target.server_pid is not None:
        figures[f"rss_server_{n}_mib"] = procfs.rss_bytes(target.server_pid) / MiB
    return figures


async def _close_all(sessions: Sequence[Session]) -> None:
    with anyio.CancelScope(shield=True):
        async with anyio.create_task_group() as tg:
            for session in sessions:
                tg.start_soon(session.aclose)


async def with_sessions(target: Target, n: int, plan: Plan) -> Figures:
    """Open n sessions, load them, read memory while they are all open, close them."""
    sessions: list[Session] = []
    try:
        for _ in range(n):
            sessions.append(await target.open())
        figures = await measure_load(target, sessions, plan)
        figures.update(measure_memory(target, sessions))
        return figures
    finally:
        await _close_all(sessions)


async def measure_target(target: Target, plan: Plan) -> Figures:
    """All figures of one target, in a fixed order (a warm-up session first, large results last)."""
    figures: Figures = {}
    warm = await target.open()
    try:
        for i in range(plan.warmup_calls):
            await echo(warm, f"warm-up {i}")
    finally:
        await warm.aclose()
    if target.server_pid is not None:
        await anyio.sleep(0.2)
        figures["rss_server_0_mib"] = procfs.rss_bytes(target.server_pid) / MiB
    progress(f"{target.name}: session setup x{plan.setup_sessions}")
    figures.update(await measure_setup(target, plan))
    session = await target.open()
    try:
        progress(f"{target.name}: {plan.round_trips} round trips")
        figures.update(await measure_round_trips(session, plan))
    finally:
        await session.aclose()
    for n in plan.concurrency:
        progress(f"{target.name}: {n} concurrent sessions for {plan.seconds:g} s")
        figures.update(await with_sessions(target, n, plan))
    # Large results last: the memory they leave in the bridge's heap is not counted as session cost.
    session = await target.open()
    try:
        progress(f"{target.name}: large results {[size // MiB for size, _ in plan.large]} MiB")
        figures.update(await measure_large(session, plan))
    finally:
        await session.aclose()
    if target.server_pid is not None:
        figures["rss_server_after_large_mib"] = procfs.rss_bytes(target.server_pid) / MiB
    return figures
