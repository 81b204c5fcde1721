"""The figures of every target (the floor, each bridge transport), measured with the same client code.

The machine is shared and its load drifts, so the latency phases interleave the targets: session
setup, round trips and large results take turns (in rotating order) instead of running one target
after the other; only the load runs, which would compete, go one target at a time. A target that
fails is reported and left out of later phases; the others go on. Every phase is bounded: each
exchange by the session's timeout, each load run by its duration. Figures are flat dicts of named
numbers (units in the names) that `report` turns into a table.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    setup_only: bool = False  # a variant measured in the session-setup phase only (e.g. --prespawn)
    figures: Figures = field(default_factory=dict)

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


class Roster:
    """The targets still being measured; one that fails is recorded and left out from then on."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.live = list(targets)
        self.failed: dict[str, str] = {}

    def turn(self, index: int, setup_only: bool = False) -> list[Target]:
        """The live targets in the order of turn `index` (rotating, so no target is always first)."""
        chosen = [t for t in self.live if setup_only or not t.setup_only]
        if not chosen:
            return []
        k = index % len(chosen)
        return chosen[k:] + chosen[:k]

    async def guard(self, target: Target, work: Callable[..., Awaitable[None]], *args: Any) -> None:
        """`await work(*args)`; an error drops `target` (recorded), cancellation goes through."""
        if target not in self.live:
            return
        try:
            await work(*args)
        except Exception as exc:
            while isinstance(exc, ExceptionGroup) and exc.exceptions:
                exc = exc.exceptions[0]
            self.failed[target.name] = f"{type(exc).__name__}: {exc}"
            self.live.remove(target)
            progress(f"{target.name}: FAILED ({self.failed[target.name]}); left out from now on")

    async def open_each(self) -> dict[str, Session]:
        sessions: dict[str, Session] = {}
        for target in self.turn(0):
            await self.guard(target, _open_into, target, sessions)
        return sessions


async def _open_into(target: Target, sessions: dict[str, Session]) -> None:
    sessions[target.name] = await target.open()


async def echo(session: Session, text: str) -> None:
    got = wire.tool_text(await session.call_tool("echo", {"text": text}))
    if got != text:
        raise ResultMismatch(f"echo returned {got[:80]!r}, sent {text[:80]!r}")


async def close_all(sessions: Sequence[Session]) -> None:
    with anyio.CancelScope(shield=True):
        async with anyio.create_task_group() as tg:
            for session in sessions:
                tg.start_soon(session.aclose)


async def _warm(target: Target, calls: int) -> None:
    session = await target.open()
    try:
        for i in range(calls):
            await echo(session, f"warm-up {i}")
    finally:
        await session.aclose()


async def phase_warmup(roster: Roster, plan: Plan) -> None:
    """One short session per target (imports, caches); then the bridge's RSS with no session."""
    for target in roster.turn(0, setup_only=True):
        await roster.guard(target, _warm, target, plan.warmup_calls)
    await anyio.sleep(0.2)
    for target in roster.turn(0):
        if target.server_pid is not None:
            target.figures["rss_server_0_mib"] = procfs.rss_bytes(target.server_pid) / MiB


async def _setup_once(target: Target, samples: list[float]) -> None:
    session = await target.open()
    samples.append(session.setup_seconds)
    await session.aclose()


async def phase_setup(roster: Roster, plan: Plan) -> None:
    """Connect (or spawn) to the initialize result, each target in turn, `setup_sessions` times."""
    samples: dict[str, list[float]] = {t.name: [] for t in roster.live}
    for i in range(plan.setup_sessions):
        for target in roster.turn(i, setup_only=True):
            await roster.guard(target, _setup_once, target, samples[target.name])
            await anyio.sleep(plan.setup_gap)
    for target in roster.live:
        values = samples[target.name]
        target.figures["setup_p50_ms"] = median(values) * 1e3
        target.figures["setup_p95_ms"] = percentile(values, 95) * 1e3


async def _timed_echo(session: Session, index: int, samples: list[float]) -> None:
    started = time.perf_counter()
    await echo(session, f"call {index}")
    samples.append(time.perf_counter() - started)


async def phase_round_trips(roster: Roster, plan: Plan) -> None:
    """Sequential echo calls, one session per target, the targets taking turns call by call."""
    samples: dict[str, list[float]] = {t.name: [] for t in roster.live}
    sessions = await roster.open_each()
    try:
        for i in range(plan.warmup_calls + plan.round_trips):
            kept = samples if i >= plan.warmup_calls else {t.name: [] for t in roster.live}
            for target in roster.turn(i):
                await roster.guard(target, _timed_echo, sessions[target.name], i, kept[target.name])
    finally:
        await close_all(list(sessions.values()))
    for target in roster.turn(0):
        values = samples[target.name]
        target.figures["rtt_p50_us"] = median(values) * 1e6
        target.figures["rtt_p95_us"] = percentile(values, 95) * 1e6
        target.figures["rtt_p99_us"] = percentile(values, 99) * 1e6


async def _timed_blob(session: Session, expected: str, samples: list[float]) -> None:
    started = time.perf_counter()
    got = wire.tool_text(await session.call_tool("blob", {"n": len(expected)}))
    samples.append(time.perf_counter() - started)
    if got != expected:
        raise ResultMismatch(f"{len(expected)}-byte result differs from what the child sent")


async def phase_large(roster: Roster, plan: Plan) -> None:
    """`blob` results of each size, checked byte for byte, the targets taking turns."""
    sessions = await roster.open_each()
    try:
        for size, repetitions in plan.large:
            expected = blob_text(size)
            samples: dict[str, list[float]] = {t.name: [] for t in roster.live}
            for i in range(repetitions):
                for target in roster.turn(i):
                    await roster.guard(
                        target, _timed_blob, sessions[target.name], expected, samples[target.name]
                    )
            for target in roster.turn(0):
                target.figures[f"large_{size // MiB}MiB_ms"] = median(samples[target.name]) * 1e3
    finally:
        await close_all(list(sessions.values()))
    for target in roster.turn(0):
        if target.server_pid is not None:
            target.figures["rss_server_after_large_mib"] = procfs.rss_bytes(target.server_pid) / MiB


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


async def _load_with(target: Target, n: int, plan: Plan) -> None:
    sessions: list[Session] = []
    try:
        for _ in range(n):
            sessions.append(await target.open())
        target.figures.update(await measure_load(target, sessions, plan))
        target.figures.update(measure_memory(target, sessions))
    finally:
        await close_all(sessions)


async def phase_load(roster: Roster, plan: Plan) -> None:
    """For each target alone: n sessions loaded for a fixed time, memory read while all are open."""
    for target in roster.turn(0):
        for n in plan.concurrency:
            progress(f"{target.name}: {n} concurrent sessions for {plan.seconds:g} s")
            await roster.guard(target, _load_with, target, n, plan)


async def measure_all(targets: Sequence[Target], plan: Plan) -> Roster:
    """Every phase over every target; large results last, so their heap is not counted as sessions'."""
    roster = Roster(targets)
    names = ", ".join(t.name for t in targets)
    progress(f"warm-up: {names}")
    await phase_warmup(roster, plan)
    progress(f"session setup x{plan.setup_sessions}, interleaved")
    await phase_setup(roster, plan)
    progress(f"{plan.round_trips} round trips, interleaved")
    await phase_round_trips(roster, plan)
    await phase_load(roster, plan)
    progress(f"large results {[size // MiB for size, _ in plan.large]} MiB, interleaved")
    await phase_large(roster, plan)
    return roster
