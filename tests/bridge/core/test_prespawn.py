"""`--prespawn N`: children started ahead are handed to new sessions and replaced; never used when
the child's environment comes from request headers; none outlive the bridge."""

from __future__ import annotations

import json
import time

import httpx

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import answer, call, post, session, text_of
from tests.support.procs import descendants, wait_no_descendants


def wait_children(pid: int, count: int) -> set[int]:
    for _ in range(200):
        found = {p.pid for p in descendants(pid)}
        if len(found) == count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} children of the bridge, found {len(descendants(pid))}")


def child_pid(client: httpx.Client, url: str, session_id: str) -> int:
    return int(json.loads(text_of(answer(post(client, url, session_id, call(1, "pid")))))["pid"])


def test_sessions_take_prespawned_children_and_the_pool_refills(bridge: BridgeFactory) -> None:
    with bridge("--prespawn", "2", check_no_children=False) as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        waiting = wait_children(b.pid, 2)
        with session(client, url) as session_id:
            used = child_pid(client, url, session_id)
            assert used in waiting
            refilled = wait_children(b.pid, 3)  # the session's child and a full pool again
            assert used in refilled
        wait_children(b.pid, 2)
        b.proc.terminate()
        assert b.proc.wait(timeout=30) == 0
        assert not wait_no_descendants(b.pid, timeout=5)


def test_no_prespawn_with_header_env(bridge: BridgeFactory) -> None:
    options = ("--prespawn", "2", "--header-env", "X-Echo-Tag=ECHO_TAG")
    with bridge(*options) as b, httpx.Client(timeout=20, headers={"x-echo-tag": "mine"}) as client:
        time.sleep(0.5)  # a pool would have started by now
        assert descendants(b.pid) == []
        with session(client, b.url + "/mcp") as session_id:
            reply = json.loads(text_of(answer(post(client, b.url + "/mcp", session_id, call(1, "pid")))))
            assert reply["tag"] == "mine"
        assert "prespawn: 0" in b.log()
