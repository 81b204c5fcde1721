"""The real workload: `get-jira-issue` from the stdio server against the Atlassian sandbox.

The same server is reached directly over pipes (the floor) and through each bridge transport, the
paths taking turns call by call; the result must be the same text on every path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import wire
from bench.bridge_proc import HOST, Unavailable
from bench.clients import Session
from bench.measure import ResultMismatch, Roster, Target, close_all, progress
from bench.stats import median, percentile
from tests.support.procs import free_port, script, start_server

ISSUE_KEY = "DEMO-2"  # has comments and a remote link: a realistic result
TOOL = "get-jira-issue"


def server_argv() -> list[str]:
    """The stdio server's command; Unavailable while its package has no entry point yet."""
    if importlib.util.find_spec("legacy_stdio.__main__") is None:
        raise Unavailable("the stdio server (legacy_stdio.__main__) does not exist yet")
    return [script("mcp-jira-confluence")]


def sandbox_env(base_url: str) -> dict[str, str]:
    """Environment for the stdio server: Cloud-style Basic credentials of a seeded user."""
    from atlassian_sandbox import seed

    helper = getattr(seed, "server_env", None)
    if callable(helper):
        env = helper(base_url)
        if isinstance(env, dict):
            return {str(k): str(v) for k, v in env.items()}
    user = seed.ALICE
    return {
        "JIRA_URL": base_url,
        "JIRA_USERNAME": user.email,
        "JIRA_API_TOKEN": user.api_token,
        "CONFLUENCE_URL": f"{base_url}/wiki",
        "CONFLUENCE_USERNAME": user.email,
        "CONFLUENCE_API_TOKEN": user.api_token,
    }


@contextlib.contextmanager
def running_sandbox(log_path: Path) -> Iterator[dict[str, str]]:
    """Start `atlassian-sandbox --mode cloud` on loopback; yields the full environment for the server."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    argv = [script("atlassian-sandbox"), "--host", HOST, "--port", str(port), "--mode", "cloud"]
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(start_server(argv, f"{base}/rest/api/2/serverInfo", log_path, timeout=30))
        except (RuntimeError, TimeoutError) as exc:
            raise Unavailable(f"the sandbox did not start ({exc}); see {log_path}") from exc
        yield {**os.environ, **sandbox_env(base)}


def _content(message: dict[str, Any]) -> str:
    result = wire.result_of(message)
    if result.get("isError"):
        raise ResultMismatch(f"{TOOL} failed: {str(result.get('content'))[:300]}")
    return str(result.get("content"))


async def _first(session: Session, texts: dict[str, str], name: str) -> None:
    texts[name] = _content(await session.call_tool(TOOL, {"issue_key": ISSUE_KEY}))


async def _check(reference: str, texts: dict[str, str], name: str) -> None:
    if texts[name] != reference:
        raise ResultMismatch(f"its {TOOL} result differs from the direct one")


async def _timed(session: Session, reference: str, samples: list[float]) -> None:
    started = time.perf_counter()
    got = _content(await session.call_tool(TOOL, {"issue_key": ISSUE_KEY}))
    samples.append(time.perf_counter() - started)
    if got != reference:
        raise ResultMismatch(f"{TOOL} result changed between calls")


async def measure_jira(targets: Sequence[Target], calls: int, budget: float) -> Roster:
    """Up to `calls` get-jira-issue calls per path, the paths taking turns, for at most `budget` s.

    The first target is the reference (direct over pipes): every path must return its exact text.
    """
    progress(f"{TOOL} {ISSUE_KEY}: up to {calls} calls per path, interleaved, at most {budget:g} s")
    roster = Roster(targets)
    sessions = await roster.open_each()
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    try:
        texts: dict[str, str] = {}
        for target in roster.turn(0):
            await roster.guard(target, _first, sessions[target.name], texts, target.name)
        reference = texts.get(targets[0].name)
        if reference is None:
            return roster
        for target in roster.turn(0):
            await roster.guard(target, _check, reference, texts, target.name)
        deadline = time.monotonic() + budget
        for i in range(calls):
            if i >= 3 and time.monotonic() > deadline:
                break
            for target in roster.turn(i):
                await roster.guard(target, _timed, sessions[target.name], reference, samples[target.name])
    finally:
        await close_all(list(sessions.values()))
    for target in roster.turn(0):
        target.figures["jira_p50_ms"] = median(samples[target.name]) * 1e3
        target.figures["jira_p95_ms"] = percentile(samples[target.name], 95) * 1e3
    return roster
