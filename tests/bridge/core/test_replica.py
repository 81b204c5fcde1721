"""A bridge as one replica of many: session ids that name it, 404s that say why, and the drain of a
rolling update (SIGTERM: no new session, busy ones go on, idle ones end; a second signal ends at once),
as the balancers' probes (`/drainz`, `/readyz`, the HAProxy agent port) report it."""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import (
    HEADERS,
    INIT_PARAMS,
    answer,
    call,
    initialize,
    post,
    request,
    sse_messages,
    text_of,
    wait_until_child_saw,
)
from tests.support.procs import Started, descendants, free_port, script

pytestmark = pytest.mark.timeout(90)

T = TypeVar("T")

VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
REPLICA_ID = re.compile(r"[A-Za-z0-9-]{1,63}")
REASONS = ("other_replica_session", "unknown_session", "expired_session")


# ----- helpers ------------------------------------------------------------------------------------


def until(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 10.0, every: float = 0.05) -> T:
    """Call `probe` until `done(result)` holds; returns that result, or fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if done(got):
            return got
        assert time.monotonic() < deadline, f"still {got!r} after {timeout}s"
        time.sleep(every)


def metric(client: httpx.Client, base: str, name: str, **labels: str) -> float:
    """One sample of the bridge's `/metrics` (0 when absent)."""
    response = client.get(base + "/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def rpc_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is `status` with a JSON-RPC error body; returns the body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0" and isinstance(body["error"]["code"], int) and body["error"]["message"]
    return body


def random_bits(text: str) -> float:
    """The entropy `text` can carry at most, given the smallest usual alphabet it fits in."""
    if re.fullmatch(r"[0-9a-f]+", text):
        alphabet = 16
    elif re.fullmatch(r"[A-Za-z0-9_-]+", text):
        alphabet = 64
    else:
        alphabet = 94  # any visible ASCII
    return len(text) * math.log2(alphabet)


def assert_replica_id(session_id: str, replica: str) -> None:
    """`<replica>.<random>`: visible ASCII, with at least 128 random bits after the dot."""
    assert VISIBLE_ASCII.fullmatch(session_id), session_id
    prefix, dot, rest = session_id.partition(".")
    assert (prefix, dot) == (replica, "."), session_id
    assert random_bits(rest) >= 128, session_id


@contextlib.contextmanager
def open_sse(client: httpx.Client, base: str) -> Iterator[tuple[httpx.Response, str]]:
    """`GET /sse` held open: the response and the session id of its endpoint event."""
    with client.stream("GET", base + "/sse", headers={"accept": "text/event-stream"}) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(lines) == "event: endpoint"
        endpoint = next(lines)[len("data: "):]
        assert endpoint.startswith("/messages?session_id=")
        yield stream, endpoint.split("=", 1)[1]


def agent_says(port: int) -> bytes:
    """All an HAProxy agent check reads on one connection to the agent port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        data = b""
        while chunk := sock.recv(1024):
            data += chunk
        return data


def drainz(client: httpx.Client, base: str) -> httpx.Response:
    return client.get(base + "/drainz")


def draining(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json() == {"status": "draining"}


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_ended_cleanly(b: Started, children: list[int]) -> None:
    """No child of the bridge outlived it, and it logged no traceback."""
    until(lambda: [pid for pid in children if not gone(pid)], lambda left: not left)
    log = b.log()
    assert "Traceback" not in log, log[max(0, log.find("Traceback") - 500):][:4000]


@dataclass
class Caller:
    """Calls `echo` in one Streamable session every `interval` seconds on a thread of its own,
    recording when each call ended and how ("ok", else the status or the error)."""

    url: str
    session_id: str
    interval: float = 0.2
    outcomes: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Caller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=20)
            assert not self._thread.is_alive()

    def since(self, start: float, end: float = math.inf) -> list[str]:
        return [outcome for at, outcome in list(self.outcomes) if start <= at <= end]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    got = post(client, self.url, self.session_id, call(n, "echo", text=f"busy {n}"))
                    outcome = str(got.status_code)
                    if got.status_code == 200:
                        last = sse_messages(got.text)[-1]
                        outcome = "ok" if "result" in last and text_of(last) == f"busy {n}" else f"error {last}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.outcomes.append((time.monotonic(), outcome))
                self._stop.wait(self.interval)


# ----- session ids --------------------------------------------------------------------------------


def test_session_ids_name_their_replica(bridge: BridgeFactory) -> None:
    with bridge("--replica-id", "r7") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        streamable = [initialize(client, url) for _ in range(2)]
        for session_id in streamable:
            assert_replica_id(session_id, "r7")
        with open_sse(client, b.url) as (stream, sse_id):
            assert_replica_id(sse_id, "r7")
            assert stream.headers["mcp-session-id"] == sse_id  # for balancers that learn the id
        assert len({*streamable, sse_id}) == 3
        for session_id in streamable:
            assert client.delete(url, headers={"mcp-session-id": session_id}).status_code == 204


def test_default_replica_id_is_the_host_names_first_label(bridge: BridgeFactory) -> None:
    label = socket.gethostname().split(".")[0]
    expected = re.sub(r"[^A-Za-z0-9-]", "-", label)[:63] or "bridge"
    assert REPLICA_ID.fullmatch(expected)
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        assert_replica_id(session_id, expected)
        client.delete(url, headers={"mcp-session-id": session_id})


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("bad", ["bad.id", "a" * 64, "a b", "r7/x", "ü"])
def test_invalid_replica_id_exits_2_naming_the_option(bad: str, how: str) -> None:
    argv = [script("bridge"), "run", *(("--replica-id", bad) if how == "flag" else ()), "--", "true"]
    env = {**os.environ, "COLUMNS": "200", **({"BRIDGE_REPLICA_ID": bad} if how == "env" else {})}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--replica-id" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# ----- 404s that say why --------------------------------------------------------------------------


def test_404_for_ids_not_served_here_counted_by_reason(bridge: BridgeFactory) -> None:
    """Another replica's id, an unknown id with our prefix, an ended session's id: each a fast 404
    with a JSON-RPC error body on every Streamable method and on the legacy message POST."""
    with bridge("--replica-id", "r7") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        ended_streamable = initialize(client, url)
        assert client.delete(url, headers={"mcp-session-id": ended_streamable}).status_code == 204
        with open_sse(client, b.url) as (_, ended_sse):
            pass  # the stream closes: the legacy session ends
        until(lambda: metric(client, b.url, "bridge_sessions_active", transport="sse"), lambda n: n == 0)
        ids = {
            "other_replica_session": ("r9." + "A" * 43, "r9." + "A" * 43),
            "unknown_session": ("r7." + "B" * 43, "r7." + "B" * 43),
            "expired_session": (ended_streamable, ended_sse),
        }
        for streamable_id, sse_id in ids.values():
            with_id = {**HEADERS, "mcp-session-id": streamable_id}
            rpc_error(client.post(url, json=call(1, "echo", text="x"), headers=with_id), 404)
            rpc_error(client.get(url, headers=with_id), 404)
            rpc_error(client.delete(url, headers={"mcp-session-id": streamable_id}), 404)
            rpc_error(client.post(f"{b.url}/messages?session_id={sse_id}", json=call(2, "echo", text="x")), 404)
        for reason in REASONS:
            assert metric(client, b.url, "bridge_http_errors_total", status="404", reason=reason) == 4, reason
        assert metric(client, b.url, "bridge_http_errors_total", status="500", reason="internal_error") == 0


def test_404_right_after_delete_counts_as_expired(bridge: BridgeFactory) -> None:
    """The DELETE has answered: from then on the id is an ended session's, even while its child
    is still being ended (here one that ignores EOF and SIGTERM, so that takes 2 x --kill-grace)."""
    options = ("--replica-id", "r7", "--kill-grace", "0.5")
    with bridge(*options, env={"ECHO_IGNORE_STDIN_EOF": "1"}) as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        with_id = {**HEADERS, "mcp-session-id": session_id}
        assert client.delete(url, headers=with_id).status_code == 204
        rpc_error(client.post(url, json=call(1, "echo", text="x"), headers=with_id), 404)
        rpc_error(client.get(url, headers=with_id), 404)
        rpc_error(client.delete(url, headers=with_id), 404)
        counted = {reason: metric(client, b.url, "bridge_http_errors_total", status="404", reason=reason)
                   for reason in REASONS}
        assert counted == {"other_replica_session": 0, "unknown_session": 0, "expired_session": 3}


# ----- drain --------------------------------------------------------------------------------------


def test_drain_keeps_busy_sessions_ends_idle_ones_then_exits(bridge: BridgeFactory) -> None:
    with bridge("--drain-timeout", "30", "--drain-idle", "1") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        busy_id, idle_id = initialize(client, url), initialize(client, url)
        children = [p.pid for p in descendants(b.pid)]
        assert len(children) == 2
        with Caller(url, busy_id) as busy:
            assert answer(post(client, url, idle_id, request(1, "ping")))["result"] == {}
            quiet_since = time.monotonic()  # the idle session's last message
            os.kill(b.pid, signal.SIGTERM)
            signalled = time.monotonic()
            until(lambda: drainz(client, b.url), draining)

            # No new session: 503 + Retry-After with a JSON-RPC error (its id: the next test).
            refused = client.post(url, json=request("init-9", "initialize", INIT_PARAMS), headers=HEADERS)
            assert int(refused.headers["retry-after"]) > 0
            rpc_error(refused, 503)
            # Balancers: degraded (sticky sessions still come), not ready (no new ones), gauge set.
            probe = drainz(client, b.url)
            assert probe.headers["x-envoy-degraded"] == "true" and probe.json() == {"status": "draining"}
            assert client.get(b.url + "/readyz").status_code == 503
            assert metric(client, b.url, "bridge_draining") == 1

            # The idle session ends after about --drain-idle; watched without touching it.
            until(lambda: metric(client, b.url, "bridge_sessions_active", transport="streamable"),
                  lambda n: n == 1, timeout=15)
            idle_for = time.monotonic() - quiet_since
            assert 0.5 <= idle_for < 10, idle_for
            rpc_error(post(client, url, idle_id, request(2, "ping")), 404)

            # The busy one goes on.
            time.sleep(max(0.0, signalled + 2.5 - time.monotonic()))
            during = busy.since(signalled)
            assert len(during) >= 5 and set(during) == {"ok"}, during
            assert b.proc.poll() is None
        stopped = time.monotonic()  # no more calls: it goes idle, ends, and the drain is over
        assert b.proc.wait(timeout=15) == 0
        assert time.monotonic() - stopped < 15 and time.monotonic() - signalled < 25
        assert set(busy.since(signalled)) == {"ok"}
    assert_ended_cleanly(b, children)


def test_503_during_a_drain_answers_the_initialize_by_its_id(bridge: BridgeFactory) -> None:
    with bridge("--drain-timeout", "30", "--drain-idle", "30") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)  # keeps the drain going
        children = [p.pid for p in descendants(b.pid)]
        os.kill(b.pid, signal.SIGTERM)
        until(lambda: drainz(client, b.url), draining)
        refused = client.post(url, json=request("init-9", "initialize", INIT_PARAMS), headers=HEADERS)
        body = rpc_error(refused, 503)
        assert int(refused.headers["retry-after"]) > 0
        assert client.delete(url, headers={"mcp-session-id": session_id}).status_code == 204
        assert b.proc.wait(timeout=15) == 0
        assert body["id"] == "init-9", body
    assert_ended_cleanly(b, children)


def test_drain_timeout_bounds_a_busy_session(bridge: BridgeFactory) -> None:
    options = ("--drain-timeout", "1", "--drain-idle", "30", "--shutdown-grace", "1", "--kill-grace", "0.5")
    with bridge(*options) as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        children = [p.pid for p in descendants(b.pid)]
        with Caller(url, session_id) as busy:
            until(lambda: busy.since(0), lambda done: len(done) >= 2)
            os.kill(b.pid, signal.SIGTERM)
            signalled = time.monotonic()
            code = b.proc.wait(timeout=1 + 1 + 0.5 + 5)
            took = time.monotonic() - signalled
        assert code == 0
        assert took >= 0.8, took  # the busy session kept the drain going until its timeout
        assert set(busy.since(signalled, signalled + 0.8)) == {"ok"}
    assert_ended_cleanly(b, children)


def test_second_signal_during_a_drain_ends_at_once(bridge: BridgeFactory) -> None:
    kill_grace = 1.0
    options = ("--drain-timeout", "30", "--drain-idle", "30", "--kill-grace", str(kill_grace))
    with bridge(*options) as b, httpx.Client(timeout=30) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        children = [p.pid for p in descendants(b.pid)]
        slow: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: slow.update(r=post(client, url, session_id, call("s", "slow"))))
        thread.start()
        wait_until_child_saw(client, url, session_id, "tools/call", 1)
        os.kill(b.pid, signal.SIGTERM)
        until(lambda: drainz(client, b.url), draining)
        time.sleep(0.3)
        assert b.proc.poll() is None  # draining, with a request in flight
        os.kill(b.pid, signal.SIGTERM)
        signalled = time.monotonic()
        assert b.proc.wait(timeout=kill_grace + 2) == 0
        took = time.monotonic() - signalled
        thread.join(timeout=10)
        assert not thread.is_alive()
        ended = answer(slow["r"])  # the in-flight request is answered, not left hanging
        assert ended["id"] == "s" and ended["error"]["code"] < 0, ended
        assert took < kill_grace + 2
    assert "again: ending every session now" in b.log()
    assert_ended_cleanly(b, children)


# ----- probes for balancers -----------------------------------------------------------------------


def test_agent_check_says_ready_up_then_drain(bridge: BridgeFactory) -> None:
    port = free_port()
    options = ("--agent-port", str(port), "--drain-timeout", "30", "--drain-idle", "30")
    with bridge(*options) as b, httpx.Client(timeout=20) as client:
        assert agent_says(port) == b"ready up\n"
        assert agent_says(port) == b"ready up\n"  # one line per connection, every connection
        url = b.url + "/mcp"
        session_id = initialize(client, url)  # keeps the drain going
        children = [p.pid for p in descendants(b.pid)]
        os.kill(b.pid, signal.SIGTERM)
        assert until(lambda: agent_says(port), lambda said: said != b"ready up\n") == b"drain\n"
        assert draining(drainz(client, b.url))
        assert client.delete(url, headers={"mcp-session-id": session_id}).status_code == 204
        assert b.proc.wait(timeout=15) == 0
    assert_ended_cleanly(b, children)


def test_drainz_serving_before_a_drain_and_needs_no_token(bridge: BridgeFactory) -> None:
    with bridge("--auth-token", "replica-test-token-0123456789") as b, httpx.Client(timeout=20) as client:
        probe = drainz(client, b.url)
        assert probe.status_code == 200 and probe.json() == {"status": "serving"}
        assert probe.headers["content-type"].startswith("application/json")
        assert "x-envoy-degraded" not in probe.headers
        unauthenticated = client.post(b.url + "/mcp", json=request(0, "initialize", INIT_PARAMS), headers=HEADERS)
        assert unauthenticated.status_code == 401  # the token is required elsewhere
