"""Misbehaving children (`children/faulty.py`): each fault ends or limits only its own session, with
a reason in the bridge's log tagged with that session, while healthy sessions on the same bridge (one
per transport) keep working; no process is left (the `bridge` fixture checks the bridge's
descendants; grandchildren, which leave the tree, are checked by pid).

What tests/bridge/core/test_lifecycle.py already covers for one session (crash mid-request, a long
line with its newline, a request timeout, grandchildren and SIGKILL escalation) is taken here to
both transports and to the "other sessions unharmed" angle.
"""

from __future__ import annotations

import json
import time

import anyio
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.bridge.reliability.clients import StreamableSession, http_client, key
from tests.bridge.reliability.faults import healthy_pair, probe
from tests.bridge.reliability.probes import FAULTY_ARGV, descendant_pids, log_lines, running, settle
from tests.bridge.reliability.workload import TRANSPORTS, Transport
from tests.support.procs import wait_no_descendants

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ANSWER_FORWARDED_METHODS = {"notifications/message", "notifications/progress"}


def only_healthy_children(pid: int, expected: int) -> bool:
    return len(descendant_pids(pid)) == expected


def session_log(log: str, session_id: str) -> str:
    return "\n".join(log_lines(log, session_id))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_garbage_on_stdout_is_dropped_logged_and_the_session_goes_on(
    bridge: BridgeFactory, transport: Transport
) -> None:
    with bridge(child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2), probe(transport, b.url) as faulty:
                got = await faulty.call(1, "garbage")
                answers = [m for m in got if "method" not in m]
                assert [m["id"] for m in answers] == [1] and answers[0]["result"]["content"][0]["text"] == "after garbage"
                # What else was forwarded is a JSON object with a method the child wrote, never a
                # non-JSON line, a bare value, or an answer to an id the bridge never sent.
                assert all(m.get("method") in ANSWER_FORWARDED_METHODS for m in got[:-1]), got
                await faulty.echo("still here")
                await h1.echo("after")
                await h2.echo("after")
                session_id = faulty.session_id
    mine = session_log(b.log(), session_id)
    assert mine.count("not JSON (dropped)") >= 5, mine
    assert "this is not json {" in mine


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_progress_tokens_that_are_lists_or_objects_do_not_break_the_session(
    bridge: BridgeFactory, transport: Transport
) -> None:
    """Valid JSON-RPC from the child with an odd progress token (a list, an object)."""
    with bridge(child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2), probe(transport, b.url) as faulty:
                got = await faulty.call(1, "garbage", {"kind": "tokens"})
                assert got and got[-1].get("id") == 1 and "result" in got[-1], got
                await faulty.echo("still here")
                await h1.echo("after")
                await h2.echo("after")
    assert "Traceback" not in b.log()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_endless_stdout_line_ends_only_its_session(bridge: BridgeFactory, transport: Transport) -> None:
    limit = 1024 * 1024
    with bridge("--max-line-size", str(limit), child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2):
                async with probe(transport, b.url) as faulty:
                    child = int(json.loads((await faulty.call("p", "pid"))[-1]["result"]["content"][0]["text"]))
                    got = await faulty.call(1, "endless")
                    assert got and got[-1]["id"] == 1 and got[-1]["error"]["code"] == -32000, got
                    assert await faulty.stream_closed()
                    assert await faulty.status_after_end() == 404
                    session_id = faulty.session_id
                assert await settle(lambda: not running(child), within=10)
                await h1.echo("after")
                await h2.echo("after")
    mine = session_log(b.log(), session_id)
    assert f"child stdout line exceeds {limit} bytes" in mine and "session ending: child stdout line too long" in mine


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_child_that_never_answers_gets_timeouts_and_its_session_stays_usable(
    bridge: BridgeFactory, transport: Transport
) -> None:
    with bridge("--request-timeout", "1", child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2), probe(transport, b.url) as faulty:
                got = await faulty.call("m", "mute")
                assert got[-1] == {"jsonrpc": "2.0", "id": "m", "error": {"code": -32001, "message": "Request timed out"}}
                await faulty.echo("usable after the timeout")
                await h1.echo("after")
                await h2.echo("after")
                session_id = faulty.session_id
    assert "request 'm' (tools/call) timed out" in session_log(b.log(), session_id)


async def test_child_that_never_answers_initialize_gets_no_session(bridge: BridgeFactory) -> None:
    with bridge("--request-timeout", "1", child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2), http_client(30) as http:
                mute = StreamableSession(http, b.url)
                response = await http.post(mute.url, json=mute_initialize(), headers=mute.headers())
                assert response.status_code == 200 and "mcp-session-id" not in response.headers
                assert '"code":-32001' in response.text
                # Streamable: the child is ended; only the two healthy ones remain.
                assert await settle(lambda: only_healthy_children(b.pid, 2), within=10)
                # Legacy SSE: the initialize times out on the stream, the session lives until it closes.
                async with probe("sse", b.url, client_name="reliability") as sse:
                    await sse.session.send(mute_initialize("mi"))  # type: ignore[union-attr]
                    await sse.session.wait_for(lambda: key("mi") in sse.session.answers)  # type: ignore[union-attr]
                    assert sse.session.answers[key("mi")][0]["error"]["code"] == -32001  # type: ignore[union-attr]
                await h1.echo("after")
                await h2.echo("after")


def mute_initialize(id_: str = "mute") -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": id_, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mute", "version": "1"}}}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_child_exiting_mid_stream_ends_only_its_session(bridge: BridgeFactory, transport: Transport) -> None:
    with bridge(child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2):
                async with probe(transport, b.url) as faulty:
                    got = await faulty.call(1, "exit_mid_stream", {"count": 3}, token="tok")
                    notes = [m for m in got if m.get("method") == "notifications/progress"]
                    assert [n["params"]["progress"] for n in notes] == [1, 2, 3], got
                    assert got[-1]["id"] == 1 and got[-1]["error"]["code"] == -32000, got
                    assert "exited with code 7" in got[-1]["error"]["message"]
                    assert await faulty.stream_closed()
                    assert await faulty.status_after_end() == 404
                    session_id = faulty.session_id
                await h1.echo("after")
                await h2.echo("after")
    log = b.log()
    mine = session_log(log, session_id)
    assert "exited with code 7; stderr tail:" in mine and "session ending: child exited with code 7" in mine
    assert "exit_mid_stream: last words" in log


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_child_ignoring_sigterm_is_killed_while_other_sessions_carry_on(
    bridge: BridgeFactory, transport: Transport
) -> None:
    with bridge("--kill-grace", "1", child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2):
                async with probe(transport, b.url) as faulty:
                    child = int((await faulty.call(1, "stubborn"))[-1]["result"]["content"][0]["text"])
                    session_id = faulty.session_id
                # The session has been ended (DELETE / stream closed); its child needs 2 s to be killed.
                for i in range(5):
                    await h1.echo(f"during {i}")
                    await h2.echo(f"during {i}")
                assert running(child), "the healthy calls waited for the stubborn child's end"
                assert await settle(lambda: not running(child), within=10)
                await h1.echo("after")
    mine = session_log(b.log(), session_id)
    assert "SIGTERM to its group" in mine and "SIGKILL to its group" in mine


@pytest.mark.parametrize("ending", ["delete", "crash"])
async def test_grandchildren_end_with_their_session(bridge: BridgeFactory, ending: str) -> None:
    """Grandchildren that inherit the child's pipes (one ignores SIGTERM) end with the session, whether
    the client ends it or the child dies and leaves them holding its stdout."""
    with bridge("--kill-grace", "0.5", child=FAULTY_ARGV) as b:
        with anyio.fail_after(30):
            async with healthy_pair(b.url) as (h1, h2):
                async with probe("streamable", b.url) as faulty:
                    grandchildren = json.loads((await faulty.call(1, "fork"))[-1]["result"]["content"][0]["text"])
                    assert all(running(pid) for pid in grandchildren)
                    session_id = faulty.session_id
                    if ending == "crash":
                        got = await faulty.call(2, "crash")
                        assert got[-1]["id"] == 2 and got[-1]["error"]["code"] == -32000, got
                        assert await faulty.status_after_end() == 404
                assert await settle(lambda: not any(running(pid) for pid in grandchildren), within=10), (
                    [pid for pid in grandchildren if running(pid)])
                await h1.echo("after")
                await h2.echo("after")
    mine = session_log(b.log(), session_id)
    assert ("exited with code 5" in mine) if ending == "crash" else ("session ending: client sent DELETE" in mine)


@pytest.mark.parametrize("newlines", [True, False], ids=["lines", "one-endless-line"])
async def test_stderr_flood_is_drained_and_rate_limited(bridge: BridgeFactory, newlines: bool) -> None:
    with bridge(child=FAULTY_ARGV) as b:
        with anyio.fail_after(40):
            async with healthy_pair(b.url) as (h1, h2):
                async with probe("streamable", b.url) as faulty:
                    started = time.monotonic()
                    assert (await faulty.call(1, "flood", {"newlines": newlines}))[-1]["result"]
                    for i in range(40):  # the child keeps answering: its stderr pipe never fills
                        await faulty.echo(f"flooding {i}")
                        await h1.echo(f"during {i}")
                        await h2.echo(f"during {i}")
                    session_id = faulty.session_id
                flooded = time.monotonic() - started
                assert await settle(lambda: only_healthy_children(b.pid, 2), within=10)
    assert not wait_no_descendants(b.pid)
    log = b.log()
    mine = log_lines(log, session_id)
    stderr_lines = [line for line in mine if "child stderr: flood" in line]
    # The limiter lets a burst of 200 lines through, then 50 per second.
    assert len(stderr_lines) <= 200 + 50 * (flooded + 2), (len(stderr_lines), flooded)
    assert all(len(line) < 17 * 1024 for line in stderr_lines)
    if newlines:
        assert any("lines suppressed by the rate limit" in line for line in mine)
    assert len(log) < 8 * 2**20
