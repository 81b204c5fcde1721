"""Per-user sessions of the real server, children started by exec and by `--fork-server`, one run.

Each session carries its own sandbox user's credentials in headers that `--header-env` maps to the
server's variables, as teams run it (so `--prespawn` cannot help). One sandbox, three bridges:
`exec`; `fork` (`--fork-server`); `fork+tls` (also `--fork-preload legacy_stdio.prefork:warm`: the
certificate store built once in the template).

- setup: `setups` sessions per bridge, one at a time, the bridges taking turns: initialize answered
  (p50/p95), then the session's first `get-jira-issue` (what a fresh child still does on first use)
  and its second.
- memory: `live` sessions held open per bridge, each after initialize, `tools/list` and one
  `get-jira-issue`: PSS and private bytes per child, and the bridge tree's PSS per session.
- many: `many` sessions held open on the `fork+tls` bridge, opened 8 at a time; every one must
  answer its `get-jira-issue` as its own user; the tree's PSS.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import anyio

from bench import procfs, wire
from bench.bridge_proc import HOST, Bridge
from bench.clients import Session, StreamableSession
from bench.measure import MiB, ResultMismatch, close_all, progress
from bench.stats import median, percentile
from bench.workload import ISSUE_KEY, TOOL

MODES: dict[str, list[str]] = {
    "exec": [],
    "fork": ["--fork-server"],
    "fork+tls": ["--fork-server", "--fork-preload", "legacy_stdio.prefork:warm"],
}
HEADER_ENV = ("X-Jira-Email=JIRA_USERNAME,X-Jira-Token=JIRA_API_TOKEN,"
              "X-Confluence-Email=CONFLUENCE_USERNAME,X-Confluence-Token=CONFLUENCE_API_TOKEN")
OPEN_AT_ONCE = 8


def bridge_options(mode: str, sessions: int) -> list[str]:
    """The options of one bridge of the comparison: per-user credentials, room for `sessions`."""
    room = str(sessions + 10)
    return ["--header-env", HEADER_ENV, "--max-sessions", room, "--max-sessions-per-credential", room,
            "--idle-timeout", "600", "--drain-timeout", "0", *MODES[mode]]


def base_env(env: dict[str, str]) -> dict[str, str]:
    """The bridge's environment: the sandbox's URLs, no credentials (they come per session)."""
    return {k: v for k, v in env.items() if not k.endswith(("_USERNAME", "_API_TOKEN", "_PERSONAL_TOKEN"))}


def _users() -> list[Any]:
    from atlassian_sandbox import seed

    return list(seed.USERS.values())


def _headers(user: Any) -> dict[str, str]:
    return {"X-Jira-Email": user.email, "X-Jira-Token": user.api_token,
            "X-Confluence-Email": user.email, "X-Confluence-Token": user.api_token}


async def _open(bridge: Bridge, user: Any) -> StreamableSession:
    return await StreamableSession.open(HOST, bridge.port, headers=_headers(user), per_exchange=60.0)


async def _issue(session: Session) -> str:
    result = wire.result_of(await session.call_tool(TOOL, {"issue_key": ISSUE_KEY}))
    if result.get("isError"):
        raise ResultMismatch(f"{TOOL} failed: {str(result.get('content'))[:200]}")
    return str(result.get("content"))


async def _me(session: Session) -> str:
    """Who the session's child is signed in as (its assigned issues differ per user)."""
    result = wire.result_of(await session.call_tool("get-my-assigned-issues", {}))
    return str(result.get("content"))


def _children(bridge: Bridge) -> tuple[list[int], list[int]]:
    """The bridge's session children and the rest of its tree below it (the template, if any)."""
    kids = procfs.descendants(bridge.pid)
    template = [p for p in kids if _is_template(p)]
    return [p for p in kids if p not in template], template


def _is_template(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().strip() == b"fork-template"  # the name the template gives itself
    except OSError:
        return False


async def measure_setup(bridges: dict[str, Bridge], setups: int) -> dict[str, dict[str, float]]:
    """Session setup and first call, `setups` sessions per bridge, the bridges taking turns."""
    progress(f"per-user setup: {setups} sequential sessions per bridge ({', '.join(bridges)}), interleaved")
    users = _users()
    setup: dict[str, list[float]] = {mode: [] for mode in bridges}
    first: dict[str, list[float]] = {mode: [] for mode in bridges}
    second: dict[str, list[float]] = {mode: [] for mode in bridges}
    modes = list(bridges)
    for i in range(setups):
        for mode in modes[i % len(modes):] + modes[: i % len(modes)]:
            session = await _open(bridges[mode], users[i % len(users)])
            try:
                setup[mode].append(session.setup_seconds)
                started = time.perf_counter()
                await _issue(session)
                first[mode].append(time.perf_counter() - started)
                started = time.perf_counter()
                await _issue(session)
                second[mode].append(time.perf_counter() - started)
            finally:
                await close_all([session])
            await anyio.sleep(0.05)  # lets the ended child go before the next start
    return {mode: {"setup_p50_ms": median(setup[mode]) * 1e3, "setup_p95_ms": percentile(setup[mode], 95) * 1e3,
                   "first_call_p50_ms": median(first[mode]) * 1e3, "second_call_p50_ms": median(second[mode]) * 1e3}
            for mode in bridges}


async def _hold(bridge: Bridge, count: int, sessions: list[Session], answers: list[str]) -> None:
    """Open `count` sessions, `OPEN_AT_ONCE` at a time, each through tools/list and get-jira-issue."""
    users = _users()
    limiter = anyio.Semaphore(OPEN_AT_ONCE)

    async def one(index: int) -> None:
        async with limiter:
            session = await _open(bridge, users[index % len(users)])
            sessions.append(session)
            wire.result_of(await session.request("tools/list"))
            await _issue(session)
            answers.append(await _me(session))

    async with anyio.create_task_group() as tg:
        for index in range(count):
            tg.start_soon(one, index)


def _memory_figures(bridge: Bridge, count: int, prefix: str) -> dict[str, float]:
    children, template = _children(bridge)
    per_child = [procfs.memory(pid) for pid in children]
    pss = [m.get("Pss", 0) for m in per_child]
    private = [m.get("Private_Clean", 0) + m.get("Private_Dirty", 0) for m in per_child]
    tree = procfs.total_pss([bridge.pid, *children, *template])
    return {
        f"{prefix}children": float(len(children)),
        f"{prefix}child_pss_mib": sum(pss) / max(1, len(pss)) / MiB,
        f"{prefix}child_private_mib": sum(private) / max(1, len(private)) / MiB,
        f"{prefix}template_pss_mib": procfs.total_pss(template) / MiB,
        f"{prefix}tree_pss_mib": tree / MiB,
        f"{prefix}tree_pss_per_session_mib": (tree - procfs.total_pss([bridge.pid])) / max(1, count) / MiB,
    }


async def measure_memory(bridges: dict[str, Bridge], live: int) -> dict[str, dict[str, float]]:
    """PSS with `live` sessions held open on each bridge, one bridge at a time."""
    figures: dict[str, dict[str, float]] = {}
    for mode, bridge in bridges.items():
        progress(f"per-user memory, {mode}: {live} live sessions")
        sessions: list[Session] = []
        answers: list[str] = []
        try:
            await _hold(bridge, live, sessions, answers)
            await anyio.sleep(0.5)
            figures[mode] = _memory_figures(bridge, live, f"live{live}_")
        finally:
            await close_all(sessions)
        await anyio.sleep(1.0)
    return figures


async def measure_many(bridge: Bridge, many: int) -> dict[str, float]:
    """`many` sessions held open at once: how many answered as their own user, and the tree's PSS."""
    progress(f"per-user many: {many} live sessions on one fork bridge")
    sessions: list[Session] = []
    answers: list[str] = []
    started = time.perf_counter()
    try:
        await _hold(bridge, many, sessions, answers)
        opened = time.perf_counter() - started
        await anyio.sleep(0.5)
        figures = _memory_figures(bridge, many, f"many{many}_")
        figures[f"many{many}_answered"] = float(len(answers))
        figures[f"many{many}_users"] = float(len(set(answers)))
        figures[f"many{many}_open_all_s"] = opened
    finally:
        await close_all(sessions)
    return figures


async def measure_per_user(bridges: dict[str, Bridge], setups: int, live: int, many: int) -> dict[str, dict[str, float]]:
    figures = await measure_setup(bridges, setups)
    for mode, found in (await measure_memory(bridges, live)).items():
        figures[mode].update(found)
    if many and "fork+tls" in bridges:
        figures["fork+tls"].update(await measure_many(bridges["fork+tls"], many))
    return figures


ROWS: Sequence[tuple[str, str]] = (
    ("session setup p50, initialize answered (ms)", "setup_p50_ms"),
    ("session setup p95 (ms)", "setup_p95_ms"),
    ("first get-jira-issue of a session, p50 (ms)", "first_call_p50_ms"),
    ("its second get-jira-issue, p50 (ms)", "second_call_p50_ms"),
    ("PSS per child, {live} live (MiB)", "live{live}_child_pss_mib"),
    ("private per child, {live} live (MiB)", "live{live}_child_private_mib"),
    ("template PSS, {live} live (MiB)", "live{live}_template_pss_mib"),
    ("tree PSS per session, {live} live (MiB)", "live{live}_tree_pss_per_session_mib"),
    ("tree PSS, {many} live (MiB)", "many{many}_tree_pss_mib"),
    ("PSS per child, {many} live (MiB)", "many{many}_child_pss_mib"),
    ("{many} sessions answered", "many{many}_answered"),
    ("distinct users among them", "many{many}_users"),
    ("time to open all {many} (s)", "many{many}_open_all_s"),
)


def table(figures: dict[str, dict[str, float]], live: int, many: int) -> str:
    """The per-user rows, one column per mode, with each fork mode's ratio to exec."""
    modes = list(figures)
    header = ["figure (real server, per-user)", *modes, *(f"{m}/exec" for m in modes if m != "exec")]
    rows = [header]
    for label, key in ROWS:
        key = key.format(live=live, many=many)
        values = [figures[m].get(key) for m in modes]
        if all(v is None for v in values):
            continue
        exec_value = figures.get("exec", {}).get(key)
        ratios = [f"{v / exec_value:.3f}x" if v is not None and exec_value else "-"
                  for m, v in zip(modes, values, strict=True) if m != "exec"]
        rows.append([label.format(live=live, many=many), *("-" if v is None else f"{v:.1f}" for v in values), *ratios])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
