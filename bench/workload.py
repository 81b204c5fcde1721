"""The real workload: `get-jira-issue` from the stdio server against the Atlassian sandbox.

The same server is reached directly over pipes (the floor) and through each bridge transport; the
result must be the same text on every path, and its latency is compared.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.procs import free_port, script, start_server

from bench import wire
from bench.bridge_proc import HOST, Unavailable
from bench.measure import OpenSession, ResultMismatch, progress
from bench.stats import median, percentile

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


async def measure_jira(
    name: str, open_session: OpenSession, calls: int, expected: str | None
) -> tuple[dict[str, float], str]:
    """p50/p95 of `calls` sequential get-jira-issue calls on one session; the result text is checked."""
    progress(f"{name}: {calls} x {TOOL} {ISSUE_KEY}")
    session = await open_session()
    try:
        first = _content(await session.call_tool(TOOL, {"issue_key": ISSUE_KEY}))
        if expected is not None and first != expected:
            raise ResultMismatch(f"{name}: {TOOL} result differs from the direct one")
        samples: list[float] = []
        for _ in range(calls):
            started = time.perf_counter()
            got = _content(await session.call_tool(TOOL, {"issue_key": ISSUE_KEY}))
            samples.append(time.perf_counter() - started)
            if got != first:
                raise ResultMismatch(f"{name}: {TOOL} result changed between calls")
    finally:
        await session.aclose()
    return {"jira_p50_ms": median(samples) * 1e3, "jira_p95_ms": percentile(samples, 95) * 1e3}, first
