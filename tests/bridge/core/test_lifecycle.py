"""Sessions ending for every reason, children that crash, hang, chatter or flood, and shutdown."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

import httpx
import psutil
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import (
    HEADERS,
    INIT_PARAMS,
    answer,
    call,
    initialize,
    post,
    session,
    sse_messages,
    text_of,
    wait_until_child_saw,
)
from tests.support.procs import descendants, wait_no_descendants

pytestmark = pytest.mark.timeout(90)


def gone(pid: int, timeout: float = 10.0) -> bool:
    """`pid` no longer runs (or is a zombie its new parent has yet to reap)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_idle_timeout_fires_with_a_get_stream_open(bridge: BridgeFactory) -> None:
    with bridge("--idle-timeout", "1", "--keepalive", "0.2") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        with client.stream("GET", url, headers={**HEADERS, "mcp-session-id": session_id}) as stream:
            lines = list(stream.iter_lines())  # ends when the session expires, keep-alives do not count
        assert ": keepalive" in lines
        assert post(client, url, session_id, call(1, "echo", text="late")).status_code == 404
        assert not wait_no_descendants(b.pid)
    assert "idle for 1s" in b.log()


def test_child_crash_mid_request_ends_only_its_session(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as healthy:
            doomed = initialize(client, url)
            crashed = answer(post(client, url, doomed, call("c", "crash")))
            assert crashed["id"] == "c" and crashed["error"]["code"] == -32000
            assert post(client, url, doomed, call(2, "echo", text="x")).status_code == 404
            assert text_of(answer(post(client, url, healthy, call(3, "echo", text="alive")))) == "alive"
    log = b.log()
    assert "exited with code 3" in log and "about to crash: last words" in log


def test_request_timeout_errors_and_cancels_and_session_stays_usable(bridge: BridgeFactory) -> None:
    with bridge("--request-timeout", "1") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            timed_out = answer(post(client, url, session_id, call("never", "slow")))
            assert timed_out == {"jsonrpc": "2.0", "id": "never", "error": {"code": -32001, "message": "Request timed out"}}
            cancelled = json.loads(text_of(answer(post(client, url, session_id, call(2, "cancelled")))))
            assert len(cancelled) == 1 and type(cancelled[0]) is int  # the bridge's id, not "never"


def test_client_cancel_forwarded_with_the_remapped_id(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            slow: dict[str, Any] = {}
            thread = threading.Thread(target=lambda: slow.update(r=post(client, url, session_id, call("s", "slow"))))
            thread.start()
            wait_until_child_saw(client, url, session_id, "tools/call", 1)
            note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "s"}}
            assert post(client, url, session_id, note).status_code == 202
            thread.join(timeout=20)
            assert slow["r"].status_code == 200 and sse_messages(slow["r"].text) == []  # no answer follows
            cancelled = json.loads(text_of(answer(post(client, url, session_id, call(3, "cancelled")))))
            assert len(cancelled) == 1 and type(cancelled[0]) is int


def test_non_json_stdout_lines_dropped_and_logged(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            messages = sse_messages(post(client, url, session_id, call(1, "noise")).text)
            assert [text_of(m) for m in messages] == ["after noise"]
    assert "not JSON (dropped): b'this is not json {'" in b.log()


def test_8_mib_response_line_delivered_intact(bridge: BridgeFactory) -> None:
    size = 8 * 1024 * 1024
    with bridge() as b, httpx.Client(timeout=60) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            got = answer(post(client, url, session_id, call(1, "big", size=size)))
            assert text_of(got) == "x" * size


def test_stdout_line_over_the_limit_ends_the_session(bridge: BridgeFactory) -> None:
    with bridge("--max-line-size", "100000") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        got = answer(post(client, url, session_id, call(1, "huge_line", size=200000)))
        assert got["id"] == 1 and got["error"]["code"] == -32000
        assert post(client, url, session_id, call(2, "echo", text="x")).status_code == 404
        assert not wait_no_descendants(b.pid)
    assert "child stdout line exceeds 100000 bytes" in b.log()


def test_grandchildren_are_ended_with_the_session(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            grandchild = int(text_of(answer(post(client, url, session_id, call(1, "spawn")))))
            assert psutil.pid_exists(grandchild)
        assert gone(grandchild)


def test_stubborn_child_escalates_to_sigkill(bridge: BridgeFactory) -> None:
    with bridge("--kill-grace", "0.3", env={"ECHO_IGNORE_STDIN_EOF": "1"}) as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url):
            assert len(descendants(b.pid)) == 1
        assert not wait_no_descendants(b.pid)
    log = b.log()
    assert "SIGTERM to its group" in log and "SIGKILL to its group" in log


def test_sigterm_lets_in_flight_requests_finish(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=30) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        child = descendants(b.pid)[0].pid
        slow: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: slow.update(r=post(client, url, session_id, call(1, "slow", seconds=1.5))))
        thread.start()
        wait_until_child_saw(client, url, session_id, "tools/call", 1)
        os.kill(b.pid, signal.SIGTERM)
        for _ in range(200):  # new sessions are refused once the signal is handled
            refused = client.post(url, json=call(0, "initialize") | {"method": "initialize", "params": INIT_PARAMS},
                                  headers=HEADERS)
            if refused.status_code == 503:
                break
            time.sleep(0.02)
        assert refused.status_code == 503
        thread.join(timeout=30)
        assert text_of(answer(slow["r"])) == "slept 1.5"
        assert b.proc.wait(timeout=30) == 0
        assert gone(child)
    log = b.log()
    assert "SIGTERM: shutting down" in log and "bridge stopped" in log
