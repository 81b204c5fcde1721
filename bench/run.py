"""`make bench` / `python -m bench.run [--quick] [--baseline REF]`: the floor, legacy SSE and Streamable HTTP.

Each part runs on its own (a fresh bridge per transport) and is bounded in time; a part that cannot
run yet (no `bridge run`, no stdio server) is reported as such and the rest still runs. Prints the
table and the judged targets; writes everything as JSON to bench/results/latest.json.

`--baseline REF` (or BENCH_BASELINE=REF, e.g. HEAD or a commit) also runs the bridge as it was at
REF: `git archive REF src` into a temporary directory (removed at the end), started by the same
console script with PYTHONPATH=<dir>/src, on the same echo child. Its targets (`sse@base`,
`streamable@base`) are measured in the same interleaved run and plan as the current ones, and the
report adds RATIO lines (current / baseline) for the bridge CPU per echo call and the round trip
p50/p95 of each transport. A baseline bridge that cannot run (no such option, no `bridge run`) is
reported as such; the rest still runs. The --prespawn and workload parts run for the current tree only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import anyio

from bench import per_user, report
from bench.baseline import SUFFIX, Build, extracted, resolve
from bench.bridge_proc import HOST, Bridge, Unavailable, running_bridge
from bench.clients import PipeSession, SseSession, StreamableSession
from bench.measure import OpenSession, Plan, Roster, Target, measure_all
from bench.workload import TOOL, measure_jira, running_sandbox, server_argv

HERE = Path(__file__).resolve().parent
ECHO_ARGV = [sys.executable, "-S", str(HERE / "echo_server.py")]
TRANSPORTS = ("sse", "streamable")
PARTS = ("floor", "sse", "streamable", "prespawn", "workload", "per-user")
T = TypeVar("T")


class Outcome:
    """What every part produced: figures per column, and what could not run or failed."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, float]] = {column: {} for column in report.COLUMNS}
        self.unavailable: list[str] = []
        self.failed: list[str] = []

    def attempt(self, part: str, work: Callable[[], None]) -> None:
        print(f"[{part}]", file=sys.stderr, flush=True)
        try:
            work()
        except Unavailable as exc:
            self.cannot_run(part, exc)
        except Exception as exc:
            self.failed.append(f"{part}: {_describe(exc)}")
            print(f"  FAILED: {_describe(exc)}", file=sys.stderr, flush=True)
            traceback.print_exception(exc, file=sys.stderr)

    def cannot_run(self, part: str, why: Unavailable, yet: bool = True) -> None:
        line = f"{part}: cannot run{' yet' if yet else ''}: {why}"
        self.unavailable.append(line)
        print(f"  {line}", file=sys.stderr, flush=True)

    def collect(self, roster: Roster, columns: Mapping[str, tuple[str, str]]) -> None:
        """Figures of every target into its column (with the target's prefix); failures noted."""
        for target in roster.turn(0, setup_only=True):
            column, prefix = columns[target.name]
            self.results.setdefault(column, {}).update(
                {prefix + key: value for key, value in target.figures.items()}
            )
        for name, why in roster.failed.items():
            self.failed.append(f"{name}: {why}")


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def run_bounded(limit: float, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run one async part on a fresh event loop (uvloop), cancelled after `limit` seconds."""

    async def bounded() -> T:
        with anyio.fail_after(limit):
            return await fn(*args)

    return anyio.run(bounded, backend="asyncio", backend_options={"use_uvloop": True})


def opener(transport: str, port: int) -> OpenSession:
    if transport == "sse":
        return functools.partial(SseSession.open, HOST, port)
    return functools.partial(StreamableSession.open, HOST, port)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples and 1 s load runs (about 30 s)")
    parser.add_argument("--seconds", type=float, help="duration of each load run (default 4, quick 1)")
    parser.add_argument(
        "--prespawn", type=int, default=4, help="children started ahead in the --prespawn runs"
    )
    parser.add_argument("--jira-calls", type=int, help="get-jira-issue calls per path (default 50, quick 10)")
    parser.add_argument("--per-user-setups", type=int, default=20, help="sequential per-user sessions per bridge "
                        "in the per-user part (default 20)")
    parser.add_argument("--per-user-live", type=int, default=20, help="per-user sessions held open per bridge "
                        "for the memory figures (default 20)")
    parser.add_argument("--per-user-many", type=int, help="per-user sessions held open on the fork bridge "
                        "(default 200, quick 20; 0: none)")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only these parts (repeatable; default: all)"
    )
    parser.add_argument("--bridge-option", action="append", default=[], help="extra option for `bridge run`")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        default=os.environ.get("BENCH_BASELINE") or None,
        help="also measure the bridge as it was at this git ref (e.g. HEAD), interleaved; "
        "report current/baseline ratios (default: $BENCH_BASELINE)",
    )
    parser.add_argument(
        "--json", type=Path, default=HERE / "results" / "latest.json", help="where to write JSON"
    )
    args = parser.parse_args(argv)
    if args.seconds is not None and not 0.2 <= args.seconds <= 30:
        parser.error("--seconds must be between 0.2 and 30")
    if not 1 <= args.prespawn <= 64:
        parser.error("--prespawn must be between 1 and 64")
    if args.jira_calls is not None and not 1 <= args.jira_calls <= 1000:
        parser.error("--jira-calls must be between 1 and 1000")
    if not (1 <= args.per_user_setups <= 200 and 1 <= args.per_user_live <= 100):
        parser.error("--per-user-setups must be 1..200 and --per-user-live 1..100")
    if args.per_user_many is not None and not 0 <= args.per_user_many <= 400:
        parser.error("--per-user-many must be between 0 and 400")
    if args.baseline is not None:
        try:
            resolve(args.baseline)
        except ValueError as exc:
            parser.error(f"--baseline: {exc}")
    return args


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        plan = Plan.quick() if args.quick else Plan()
        if args.seconds is not None:
            plan = Plan(**{**asdict(plan), "seconds": args.seconds})
        self.plan = plan
        self.args = args
        self.parts = set(args.only or PARTS)
        self.jira_calls: int = args.jira_calls or (10 if args.quick else 40)
        self.jira_budget = 10.0 if args.quick else 30.0
        self.logs = args.json.parent / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.outcome = Outcome()
        self.per_user: dict[str, dict[str, float]] = {}
        self.per_user_many: int = args.per_user_many if args.per_user_many is not None else (20 if args.quick else 200)
        self.current = Build("current tree")
        self.baseline: Build | None = None  # set by run() when --baseline is given and unpacked

    def limit(self, targets: int) -> float:
        """A generous bound for one interleaved run (never reached unless something hangs)."""
        return 60.0 + targets * (60.0 + 3 * self.plan.seconds * len(self.plan.concurrency))

    def start_bridge(
        self,
        stack: contextlib.ExitStack,
        label: str,
        child_argv: list[str],
        options: list[str],
        env: Mapping[str, str] | None = None,
        build: Build | None = None,
    ) -> Bridge | None:
        """A bridge of `build` (default: the current tree) kept running until `stack` closes,
        or None (noted) when it cannot run (yet): no `bridge run`, an option it lacks, no start."""
        build = build or self.current
        every = [*self.args.bridge_option, *options]
        try:
            build.require(every)
            log = self.logs / f"bridge-{label}.log"
            return stack.enter_context(running_bridge(child_argv, log, every, {**build.env, **(env or {})}))
        except Unavailable as exc:
            self.outcome.cannot_run(f"bridge, {label}", exc, yet=build is self.current)
            return None

    def echo(self) -> None:
        """Floor, both transports and the --prespawn variants, interleaved in one run."""
        targets: list[Target] = []
        columns: dict[str, tuple[str, str]] = {}
        if "floor" in self.parts:
            targets.append(Target("floor", functools.partial(PipeSession.open, ECHO_ARGV)))
            columns["floor"] = ("floor", "")
        with contextlib.ExitStack() as stack:
            for transport in TRANSPORTS:
                if transport not in self.parts:
                    continue
                if bridge := self.start_bridge(stack, transport, ECHO_ARGV, []):
                    targets.append(Target(transport, opener(transport, bridge.port), bridge.pid))
                    columns[transport] = (transport, "")
                # Right after its current counterpart: their load runs, one target at a time, are adjacent.
                base = self.baseline
                if base and (
                    bridge := self.start_bridge(stack, f"{transport}-base", ECHO_ARGV, [], None, base)
                ):
                    name = transport + SUFFIX
                    targets.append(Target(name, opener(transport, bridge.port), bridge.pid))
                    columns[name] = (name, "")
            if "prespawn" in self.parts:
                self.add_prespawn(stack, targets, columns)
            if not targets:
                return
            roster = run_bounded(self.limit(len(targets)), measure_all, targets, self.plan)
        self.outcome.collect(roster, columns)
        for figures in self.outcome.results.values():
            if "rss_server_32_mib" in figures and "rss_server_0_mib" in figures:
                figures["rss_server_growth_mib"] = figures["rss_server_32_mib"] - figures["rss_server_0_mib"]

    def add_prespawn(
        self, stack: contextlib.ExitStack, targets: list[Target], columns: dict[str, tuple[str, str]]
    ) -> None:
        try:
            flags = self.current.check()
        except Unavailable as exc:
            self.outcome.cannot_run("bridge --prespawn", exc)
            return
        if flags is not None and "--prespawn" not in flags:
            self.outcome.cannot_run(
                "bridge --prespawn", Unavailable("`bridge run` has no --prespawn option yet")
            )
            return
        options = ["--prespawn", str(self.args.prespawn)]
        for transport in TRANSPORTS:
            if bridge := self.start_bridge(stack, f"{transport}-prespawn", ECHO_ARGV, options):
                name = f"{transport} --prespawn {self.args.prespawn}"
                targets.append(Target(name, opener(transport, bridge.port), bridge.pid, setup_only=True))
                columns[name] = (transport, "prespawn_")

    def workload(self) -> None:
        """get-jira-issue: direct, then one bridge (both transports on its port), interleaved."""
        argv = server_argv()
        with running_sandbox(self.logs / "sandbox.log") as env, contextlib.ExitStack() as stack:
            targets = [Target("floor", functools.partial(PipeSession.open, argv, env))]
            if bridge := self.start_bridge(stack, "jira", argv, [], env):
                targets += [Target(t, opener(t, bridge.port), bridge.pid) for t in TRANSPORTS]
            roster = run_bounded(
                self.limit(len(targets)), measure_jira, targets, self.jira_calls, self.jira_budget
            )
        self.outcome.collect(roster, {t.name: (t.name, "") for t in targets})

    def per_user_part(self) -> None:
        """The real server per user: exec, fork and fork+tls bridges on one sandbox, in one run."""
        argv = server_argv()
        live, setups, many = self.args.per_user_live, self.args.per_user_setups, self.per_user_many
        with running_sandbox(self.logs / "sandbox-per-user.log") as env, contextlib.ExitStack() as stack:
            bridges: dict[str, Bridge] = {}
            for mode in per_user.MODES:
                options = per_user.bridge_options(mode, max(live, many))
                bridge = self.start_bridge(stack, f"per-user-{mode}", argv, options, per_user.base_env(env))
                if bridge is not None:
                    bridges[mode] = bridge
            if not bridges:
                return
            limit = 300.0 + 10.0 * (setups * len(bridges) + live * len(bridges) + many)
            self.per_user = run_bounded(limit, per_user.measure_per_user, bridges, setups, live, many)

    def run(self) -> int:
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            if self.args.baseline is not None and self.parts & set(TRANSPORTS):
                self.outcome.attempt(f"baseline {self.args.baseline}", lambda: self.unpack(stack))
            if self.parts - {"workload"}:
                self.outcome.attempt("echo: floor over pipes, SSE, Streamable HTTP", self.echo)
        if "workload" in self.parts:
            self.outcome.attempt(f"{TOOL}: direct and through the bridge", self.workload)
        if "per-user" in self.parts:
            self.outcome.attempt("per-user sessions of the real server: exec and --fork-server", self.per_user_part)
        self.finish(time.monotonic() - started)
        return 1 if self.outcome.failed else 0

    def unpack(self, stack: contextlib.ExitStack) -> None:
        """The baseline's source into a temporary directory (removed when `stack` closes), checked."""
        assert self.args.baseline is not None
        try:
            build = stack.enter_context(extracted(self.args.baseline))
            build.check()
        except Unavailable as exc:
            self.outcome.cannot_run(f"bridge, baseline {self.args.baseline}", exc, yet=False)
            return
        self.baseline = build

    def finish(self, elapsed: float) -> None:
        outcome = self.outcome
        found = report.checks(outcome.results)
        print()
        print(report.table(outcome.results))
        print()
        for check in found:
            print(check.line())
        compared = report.comparisons(outcome.results, SUFFIX) if self.baseline else []
        if compared:
            print(f"current / {self.baseline.title if self.baseline else ''}, same run, interleaved:")
        for comparison in compared:
            print(comparison.line())
        for build in (self.current, self.baseline):
            if build is not None and build.source is not None:
                print(f"bridge source, {build.title}: {build.source}")
        if self.per_user:
            print()
            print(per_user.table(self.per_user, self.args.per_user_live, self.per_user_many))
        for line in outcome.unavailable + [f"FAILED {line}" for line in outcome.failed]:
            print(line)
        document = {
            "meta": {
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "elapsed_s": round(elapsed, 1),
                "quick": self.args.quick,
                "plan": asdict(self.plan),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "loadavg": os.getloadavg(),
                "bridge_options": sorted(self.current.flags or ()),
                "bridge_source": str(self.current.source) if self.current.source else None,
                "echo_argv": ECHO_ARGV,
                "baseline": self.baseline_meta(),
            },
            "results": outcome.results,
            "per_user": self.per_user,
            "checks": [{"name": c.name, "value": c.value, "limit": c.limit, "ok": c.ok} for c in found],
            "baseline_ratios": [
                {"name": c.name, "current": c.current, "baseline": c.baseline, "ratio": c.ratio}
                for c in compared
            ],
            "unavailable": outcome.unavailable,
            "failed": outcome.failed,
        }
        self.args.json.parent.mkdir(parents=True, exist_ok=True)
        self.args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nJSON: {self.args.json}   ({elapsed:.0f} s)")

    def baseline_meta(self) -> dict[str, Any] | None:
        if self.args.baseline is None:
            return None
        build = self.baseline
        return {
            "ref": self.args.baseline,
            "commit": resolve(self.args.baseline)[0],
            "subject": build.subject if build else None,
            "title": build.title if build else None,
            "bridge_source": str(build.source) if build and build.source else None,
            "bridge_options": sorted(build.flags or ()) if build else [],
        }


def main(argv: list[str] | None = None) -> int:
    return Bench(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
