"""`make soak` / `python -m bench.soak [--quick]`: the reliability suite at the issue's full size.

Every part starts its own `bridge run` on 127.0.0.1 around the steady stdlib child of the suite
(tests/bridge/reliability/children/steady.py) and reuses the suite's drivers:

- load: 200 sessions held at once per transport (legacy SSE, Streamable HTTP), 50 calls each, every
  10th result 256 KiB - 1 MiB; every answer must arrive exactly once, to its own session;
- churn: 2,000 sessions opened and closed per transport (some mid-request, some left to the idle
  timeout); processes, fds and RSS must return to their start level (RSS within 4 MiB);
- fuzz: hypothesis cases against one bridge, bounded by count and time; never a 5xx, every error
  body JSON-RPC, the bridge alive and usable afterwards;
- shutdown: SIGTERM under a 200-session load with 400 requests in flight; all answered, exit 0.

Prints the figures (sessions held, messages sent and received, lost, duplicated, leaked processes,
fuzz cases, 5xx, memory and fds start/end) and exits 1 on any loss, duplicate, leak, 5xx or failed
part. Bounded: each part has a deadline and the whole run stops itself (~5 minutes on 2 cores).
Bridge logs go to bench/results/soak-logs/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from hypothesis import HealthCheck, Phase, given, settings

from tests.bridge.reliability.clients import text_of
from tests.bridge.reliability.faults import probe
from tests.bridge.reliability.fuzzing import FUZZ_OPTIONS, Case, FuzzTarget, Violation, cases
from tests.bridge.reliability.probes import STEADY_ARGV, descendant_pids, fd_count, rss_bytes, settle
from tests.bridge.reliability.shutdown import run_shutdown_under_load
from tests.bridge.reliability.workload import TRANSPORTS, Plan, Tally, Transport, run_churn, run_load
from tests.support.bridge import run_bridge
from tests.support.procs import Started

HERE = Path(__file__).resolve().parent
LOGS = HERE / "results" / "soak-logs"
RSS_TOLERANCE = 4 * 2**20
IDLE_TIMEOUT = 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class Size:
    sessions: int = 200
    calls: int = 50
    churn: int = 2000
    fuzz_examples: int = 3000  # per endpoint group
    fuzz_seconds: float = 150.0
    shutdown_sessions: int = 100  # per transport
    holds: int = 2


FULL = Size()
QUICK = Size(sessions=50, calls=20, churn=300, fuzz_examples=200, fuzz_seconds=30.0, shutdown_sessions=20)


@dataclass
class Figures:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    misrouted: int = 0
    leaked: int = 0
    fuzz_cases: int = 0
    server_errors: int = 0

    def say(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)

    def fail(self, part: str, why: str) -> None:
        self.failures.append(f"{part}: {why}")
        print(f"  FAILED {part}: {why}", flush=True)

    def count(self, tally: Tally) -> None:
        self.sent += tally.sent
        self.received += tally.received
        self.lost += tally.lost
        self.duplicated += tally.duplicated
        self.misrouted += tally.misrouted


def bounded(limit: float, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """One async part on a fresh event loop, cancelled after `limit` seconds."""

    async def run() -> T:
        with anyio.fail_after(limit):
            return await fn(*args)

    return anyio.run(run, backend="asyncio")


def bridge(label: str, options: list[str]) -> Any:
    LOGS.mkdir(parents=True, exist_ok=True)
    return run_bridge(STEADY_ARGV, LOGS / f"bridge-{label}.log", options, check_no_children=False)


IDLE_AFTER_LOAD = 12.0


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


# ----- parts -------------------------------------------------------------------------------------


def load(size: Size, transport: Transport, out: Figures) -> None:
    plan = Plan(sessions=size.sessions, calls=size.calls)
    with bridge(f"load-{transport}", ["--max-sessions", str(size.sessions + 50)]) as b:
        fds0, rss0 = fd_count(b.pid), rss_bytes(b.pid)
        started = time.monotonic()
        tally = bounded(240, run_load, b.url, transport, plan, b.pid)
        seconds = time.monotonic() - started
        left = bounded(20, settle_children, b)
        fds1, rss1 = fd_count(b.pid), rss_bytes(b.pid)
        time.sleep(IDLE_AFTER_LOAD)  # the bridge returns freed heap to the system within 10 s
        rss_idle = rss_bytes(b.pid)
    out.count(tally)
    out.leaked += len(left)
    out.say(f"load {transport:10} sessions held {tally.held}/{size.sessions}, calls {tally.sent} sent, "
            f"{tally.received} received, {tally.answered} answered, lost {tally.lost}, duplicated "
            f"{tally.duplicated}, misrouted {tally.misrouted}, large {tally.large} ({mib(tally.large_bytes)}), "
            f"slowest call {tally.slowest:.1f}s, {seconds:.0f}s; children left {len(left)}; "
            f"bridge fds {fds0} -> {fds1}, RSS {mib(rss0)} -> {mib(rss1)}, "
            f"{IDLE_AFTER_LOAD:g}s idle later {mib(rss_idle)}")
    if not tally.ok or tally.held != size.sessions or tally.sessions != size.sessions:
        out.fail(f"load {transport}", tally.summary())
    if left:
        out.fail(f"load {transport}", f"children left: {left}")


async def settle_children(b: Started, within: float = 15.0) -> list[int]:
    await settle(lambda: not descendant_pids(b.pid), within=within)
    return descendant_pids(b.pid)


def churn(size: Size, transport: Transport, out: Figures) -> None:
    options = ["--max-sessions", "100", "--idle-timeout", str(IDLE_TIMEOUT)]
    with bridge(f"churn-{transport}", options) as b:
        fds0 = fd_count(b.pid)
        warm = bounded(60, run_churn, b.url, transport, 60)
        bounded(30, settle_children, b, IDLE_TIMEOUT + 10)
        rss0 = rss_bytes(b.pid)
        started = time.monotonic()
        tally = bounded(300, run_churn, b.url, transport, size.churn, 8, 10, 10)
        seconds = time.monotonic() - started
        left = bounded(30, settle_children, b, IDLE_TIMEOUT + 10)

        async def fds_back() -> int:
            await settle(lambda: fd_count(b.pid) <= fds0, within=10)
            return fd_count(b.pid)

        fds1 = bounded(20, fds_back)
        rss1 = rss_bytes(b.pid)
    out.count(tally)
    out.leaked += len(left)
    out.say(f"churn {transport:9} sessions {tally.sessions} opened and closed ({tally.closed_in_flight} "
            f"mid-request, {tally.abandoned} left to the idle timeout), {seconds:.0f}s; children left "
            f"{len(left)}; bridge fds {fds0} -> {fds1}, RSS {mib(rss0)} -> {mib(rss1)} (after a "
            f"{warm.sessions}-session warm-up; tolerance {mib(RSS_TOLERANCE)})")
    if not tally.ok or tally.sessions != size.churn:
        out.fail(f"churn {transport}", tally.summary())
    if left or fds1 > fds0 or rss1 > rss0 + RSS_TOLERANCE:
        out.fail(f"churn {transport}", f"children left {left}, fds {fds0} -> {fds1}, RSS {rss0} -> {rss1}")


def fuzz(size: Size, out: Figures) -> None:
    violations: list[str] = []
    deadline = time.monotonic() + size.fuzz_seconds
    skipped = 0
    with bridge("fuzz", FUZZ_OPTIONS) as b, FuzzTarget(b.url) as target:
        started = time.monotonic()
        for group in ("mcp", "sse", "other"):
            until = min(deadline, time.monotonic() + size.fuzz_seconds / 3)
            skipped += fuzz_group(target, group, size.fuzz_examples, until, violations)
        seconds = time.monotonic() - started
        alive = b.proc.poll() is None
        usable = alive and bounded(60, still_usable, b)
        live = 1 + target.live_streamable_sessions
        left = bounded(30, settle_count, b, live)
        stats = target.stats
    out.fuzz_cases += stats.cases
    out.server_errors += stats.server_errors
    out.leaked += max(0, left - live)
    out.say(f"fuzz       cases {stats.cases} in {seconds:.0f}s (up to {size.fuzz_examples} per endpoint group, "
            f"{skipped} not sent for time), 5xx {stats.server_errors}, other violations "
            f"{len(violations) - stats.server_errors}, SSE sessions opened {stats.sse_opened}, "
            f"events checked {stats.events_checked + target.sse.events}; bridge alive {alive}, real sessions "
            f"work {usable}; statuses {dict(sorted(stats.statuses.items()))}")
    if violations or target.sse.violations or not usable or left > live:
        kinds = sorted({v[:70]: v[:200] for v in violations}.values())
        shown = kinds[:8] + target.sse.violations[:2]
        out.fail("fuzz", f"{len(violations)} violations of {len(kinds)} kinds, e.g.\n    " + "\n    ".join(shown))


def fuzz_group(target: FuzzTarget, group: str, examples: int, until: float, violations: list[str]) -> int:
    """Up to `examples` cases of one endpoint group, none sent after `until`; how many were not sent."""
    skipped = 0

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=cases(group))
    def one(case: Case) -> None:
        nonlocal skipped
        if time.monotonic() > until:
            skipped += 1
            return
        try:
            target.run(case)
        except (Violation, httpx.HTTPError) as exc:
            violations.append(str(exc)[:300])

    one()
    return skipped


async def still_usable(b: Started) -> bool:
    for transport in TRANSPORTS:
        async with probe(transport, b.url) as session:
            answer = (await session.call(1, "echo", {"text": "after the fuzz"}))[-1]
            if "result" not in answer or text_of(answer) != "after the fuzz":
                return False
    return True


async def settle_count(b: Started, live: int) -> int:
    await settle(lambda: len(descendant_pids(b.pid)) <= live, within=15)
    return len(descendant_pids(b.pid))


def shutdown(size: Size, out: Figures) -> None:
    sessions = size.shutdown_sessions * len(TRANSPORTS)
    with tempfile.TemporaryDirectory() as fifo_dir, bridge("shutdown", ["--max-sessions", str(sessions + 50)]) as b:
        started = time.monotonic()
        report = bounded(180, run_shutdown_under_load, b, size.shutdown_sessions, size.holds, Path(fifo_dir))
        seconds = time.monotonic() - started
    out.leaked += len(report.left)
    out.say(f"shutdown   SIGTERM with {report.sessions} sessions and {report.in_flight} requests in flight: "
            f"{report.completed} answered, a new session meanwhile got {report.refused}, exit code "
            f"{report.exit_code}, children {len(report.children)}, left {len(report.left)}, {seconds:.0f}s")
    if not report.ok or report.sessions != sessions:
        out.fail("shutdown", report.summary())


# ----- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the CI sizes of the test suite (about a minute)")
    parser.add_argument("--only", choices=("load", "churn", "fuzz", "shutdown"), action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    out = Figures()
    parts: list[tuple[str, Callable[[], None]]] = [
        *[(f"load {t}", lambda t=t: load(size, t, out)) for t in TRANSPORTS],
        *[(f"churn {t}", lambda t=t: churn(size, t, out)) for t in TRANSPORTS],
        ("fuzz", lambda: fuzz(size, out)),
        ("shutdown", lambda: shutdown(size, out)),
    ]
    started = time.monotonic()
    print(f"soak ({'quick' if args.quick else 'full size'}); bridge logs in {LOGS}", flush=True)
    for name, part in parts:
        if args.only and name.split()[0] not in args.only:
            continue
        try:
            part()
        except Exception as exc:  # a part that broke is reported; the others still run
            out.fail(name, f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
    seconds = time.monotonic() - started
    print(flush=True)
    print(f"messages sent {out.sent}, received {out.received}; lost {out.lost}, duplicated {out.duplicated}, "
          f"misrouted {out.misrouted}; leaked processes {out.leaked}; fuzz cases {out.fuzz_cases}, "
          f"5xx {out.server_errors}; {seconds:.0f}s in all")
    bad = out.lost or out.duplicated or out.misrouted or out.leaked or out.server_errors or out.failures
    if bad:
        print("SOAK FAILED:\n  " + "\n  ".join(out.failures or ["see the figures above"]), flush=True)
        return 1
    print("soak passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
