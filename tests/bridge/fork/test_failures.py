"""Failure paths of `--fork-server`.

1. The template is SIGKILLed with sessions open: their children are the bridge's, so they go on;
   a session opened while the template is down gets a child started by exec; the template is
   restarted, and the next session's child is forked again.
2. A template that hangs costs one spawn its timeout: that session starts by exec, and the template
   is replaced.
3. A forked child that crashes ends only its own session; the template and the other session go on.
4. SIGTERM with forked sessions open: the bridge exits 0 and leaves nothing behind (no template, no
   child, no zombie).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from mcp import Client, MCPError

from .conftest import (
    TRANSPORTS,
    ForkBridge,
    ForkBridgeFactory,
    Transport,
    client,
    exists,
    stat,
    tool,
    until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

HOLD = "tests.bridge.fork.hold:wait"


async def pid_of(session: Client) -> int:
    pid: int = (await tool(session, "ids"))["pid"]
    return pid


def up(b: ForkBridge) -> float:
    return b.metric("bridge_fork_server_up")


async def test_template_killed_sessions_go_on_exec_fallback_then_forked_again(
    fork_bridge: ForkBridgeFactory, tmp_path: Path
) -> None:
    hold = tmp_path / "hold-the-next-template"
    with fork_bridge("--fork-preload", HOLD, env={"FORK_TEST_HOLD": str(hold)}) as b:
        async with client("streamable", b.url) as a, client("sse", b.url) as other:
            before = [await pid_of(a), await pid_of(other)]
            assert set(before) <= set(b.forked())
            first = b.template_pid()

            hold.touch()  # the restarted template stays unready until the file is gone
            os.kill(first, signal.SIGKILL)
            until(lambda: up(b), lambda value: value == 0, what="bridge_fork_server_up 0 after the kill")

            # Open sessions are unaffected: same children, still answering.
            assert [await pid_of(a), await pid_of(other)] == before
            # A session opened now gets a child started by exec.
            async with client("streamable", b.url) as during:
                fallback = await pid_of(during)
                assert fallback in b.execed() and fallback not in b.forked()
                assert stat(fallback)["ppid"] == b.pid
                assert b.ready() == (200, {"status": "ready", "children": "exec"})
                metrics = b.metrics()
                assert metrics["bridge_fork_fallbacks_total"] > 0
                assert metrics["bridge_fork_server_restarts_total"] == 1

                hold.unlink()
                until(lambda: up(b), lambda value: value == 1, what="the template back (bridge_fork_server_up 1)")
                second = b.template_pid()
                assert second != first and b.template_pids() == [first, second]
                assert not exists(first), "the killed template was not reaped"
                assert b.metric("bridge_fork_server_restarts_total") == 1

                async with client("sse", b.url) as after:
                    again = await pid_of(after)
                    assert again in b.forked()
                    assert stat(again)["ppid"] == b.pid
                    assert b.ready() == (200, {"status": "ready", "children": "fork"})
                    assert [await pid_of(a), await pid_of(other), await pid_of(during)] == [*before, fallback]
    log = b.log()
    assert "fork server: template exited (code -9" in log
    assert "fork server: template back" in log


async def test_a_hung_template_costs_one_spawn_its_timeout_then_is_replaced(fork_bridge: ForkBridgeFactory) -> None:
    """A template that stops answering (SIGSTOP) is given up after the spawn timeout: that session
    starts by exec, the frozen template is killed and reaped, and a new one forks again."""
    with fork_bridge("--kill-grace", "0.5") as b:
        frozen = b.template_pid()
        os.kill(frozen, signal.SIGSTOP)
        with anyio.fail_after(60):
            async with client("sse", b.url) as during:
                fallback = await pid_of(during)
                assert fallback in b.execed() and not b.forked()
                until(lambda: exists(frozen), lambda there: not there, what="the hung template killed and reaped")
                assert b.metric("bridge_fork_fallbacks_total") >= 1
                until(lambda: up(b), lambda value: value == 1, what="a new template up")
                assert b.template_pids() == [frozen, b.template_pid()] and b.template_pid() != frozen
                async with client("streamable", b.url) as after:
                    assert await pid_of(after) in b.forked()
                assert await pid_of(during) == fallback
    assert "fork server: fork failed (no answer within 5s)" in b.log()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_crashing_forked_child_ends_only_its_session(
    fork_bridge: ForkBridgeFactory, transport: Transport
) -> None:
    with fork_bridge() as b:
        async with client("streamable", b.url) as healthy:
            survivor = await pid_of(healthy)
            with anyio.fail_after(30):
                async with client(transport, b.url) as doomed:
                    crashed = await pid_of(doomed)
                    assert crashed in b.forked() and crashed != survivor
                    with pytest.raises(MCPError, match="child exited with code 3"):
                        await doomed.call_tool("crash", {})
                    with pytest.raises(MCPError):  # the session is gone: nothing answers in it any more
                        await doomed.call_tool("ids", {})
            until(lambda: exists(crashed), lambda there: not there, what=f"the crashed child {crashed} reaped")
            assert await pid_of(healthy) == survivor
            until(b.log, lambda log: f"child {crashed} exited with code 3" in log, what="the exit code logged")
            metrics = b.metrics()
            assert metrics['bridge_children_exited_total{code="3"}'] == 1
            assert metrics["bridge_fork_server_up"] == 1 and metrics["bridge_fork_server_restarts_total"] == 0
            async with client(transport, b.url) as next_one:
                assert await pid_of(next_one) in b.forked()
    assert "env_server: crashing on purpose" in b.log()


@contextlib.asynccontextmanager
async def open_sessions(url: str, count: int) -> AsyncIterator[list[Client]]:
    """`count` sessions, alternating transports, whose closing may fail: the bridge is gone by then."""
    stack = contextlib.AsyncExitStack()
    sessions = [await stack.enter_async_context(client("streamable" if i % 2 == 0 else "sse", url))
                for i in range(count)]
    try:
        yield sessions
    finally:
        with anyio.move_on_after(20, shield=True), contextlib.suppress(Exception):
            await stack.aclose()


async def test_sigterm_with_forked_sessions_open_exits_0_and_leaves_nothing(fork_bridge: ForkBridgeFactory) -> None:
    with fork_bridge("--drain-timeout", "0") as b:
        async with open_sessions(b.url, 3) as sessions:
            children = [await pid_of(s) for s in sessions]
            assert set(children) <= set(b.forked()) and len(set(children)) == 3
            template = b.template_pid()
            os.kill(b.pid, signal.SIGTERM)
            code = await anyio.to_thread.run_sync(lambda: b.started.proc.wait(30))
        assert code == 0, b.log()[-3000:]
        left = until(lambda: [pid for pid in [template, *children] if exists(pid)], lambda pids: not pids,
                     what="the template and every child gone, none a zombie")
        assert not left
    log = b.log()
    assert "bridge stopped" in log
    for pid in children:
        assert f"child {pid} " in log.split("SIGTERM", 1)[1], f"child {pid}'s end is not logged"
