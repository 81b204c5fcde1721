"""Probes, metrics and logs of a real bridge: `/readyz`, `/metrics` counts after a scripted run,
and session-tagged, secret-free log lines."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import (
    HEADERS,
    answer,
    call,
    initialize,
    post,
    session,
    text_of,
    wait_until_child_saw,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client, base: str) -> Samples:
    response = client.get(base + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_readyz_and_healthz(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        assert client.get(b.url + "/healthz").json() == {"status": "ok"}
        assert client.get(b.url + "/health").json() == {"status": "ok"}
        ready = client.get(b.url + "/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready", "children": "exec"}


def test_readyz_starts_one_probe_child_and_then_reuses_its_answer(bridge: BridgeFactory) -> None:
    """An orchestrator probing every few seconds does not start a child each time."""
    with bridge() as b, httpx.Client(timeout=20) as client:
        answers = [client.get(b.url + "/readyz") for _ in range(4)]
        time.sleep(2.5)  # past the reuse of a failed probe's answer: a success is still reused
        answers.append(client.get(b.url + "/readyz"))
        log = b.log_path.read_text()
    assert all(a.status_code == 200 for a in answers)
    assert log.count("child started") == 1, "one probe child for five probes"


def test_readyz_fails_when_the_command_cannot_start(bridge: BridgeFactory) -> None:
    with bridge(child=["/nonexistent/mcp-server"]) as b, httpx.Client(timeout=20) as client:
        assert client.get(b.url + "/healthz").status_code == 200
        ready = client.get(b.url + "/readyz")
        assert ready.status_code == 503
        assert "cannot start" in ready.json()["reason"]


def test_readyz_fails_when_the_child_never_answers(bridge: BridgeFactory, tmp_path: Any) -> None:
    with bridge("--ready-timeout", "0.5", child=["sleep", "30"]) as b, httpx.Client(timeout=20) as client:
        ready = client.get(b.url + "/readyz")
        assert ready.status_code == 503
        assert "did not answer initialize" in ready.json()["reason"]


def test_readyz_fails_while_draining(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=30) as client:
        url = b.url + "/mcp"
        session_id = initialize(client, url)
        slow: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: slow.update(r=post(client, url, session_id, call(1, "slow", seconds=2)))
        )
        thread.start()
        wait_until_child_saw(client, url, session_id, "tools/call", 1)
        os.kill(b.pid, signal.SIGTERM)
        for _ in range(200):
            ready = client.get(b.url + "/readyz")
            if ready.status_code == 503:
                break
            time.sleep(0.02)
        assert ready.status_code == 503 and "draining" in ready.json()["reason"]
        thread.join(timeout=30)
        assert text_of(answer(slow["r"])) == "slept 2"
        assert b.proc.wait(timeout=30) == 0


def test_metrics_count_a_scripted_run_exactly(bridge: BridgeFactory) -> None:
    calls = 3
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        before = scrape(client, b.url)
        assert value(before, "bridge_sessions_active", transport="streamable") == 0
        for _ in range(2):
            with session(client, url) as session_id:
                for i in range(calls):
                    assert text_of(answer(post(client, url, session_id, call(i, "echo", text=f"m{i}")))) == f"m{i}"
        assert client.post(url, json=call(1, "echo", text="x"), headers={**HEADERS, "mcp-session-id": "nope"}).status_code == 404
        assert client.post(url, json=call(1, "echo"), headers={"content-type": "application/json", "accept": "text/html"}).status_code == 406
        with client.stream("GET", b.url + "/sse", headers={"accept": "text/event-stream"}) as stream:
            lines = stream.iter_lines()
            endpoint = next(line for line in lines if line.startswith("data: "))[len("data: "):]
            ping = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
            assert client.post(b.url + endpoint, json=ping).status_code == 202
            assert json.loads(next(line for line in lines if line.startswith("data: "))[6:])["id"] == 7
            during = scrape(client, b.url)
            assert value(during, "bridge_sessions_active", transport="sse") == 1
        for _ in range(100):  # the sessions end as their DELETE / stream close is handled
            after = scrape(client, b.url)
            if value(after, "bridge_children_exited_total", code="0") + value(
                after, "bridge_children_exited_total", code="-15") == 3:
                break
            time.sleep(0.05)

    assert value(after, "bridge_sessions_total", transport="streamable") == 2
    assert value(after, "bridge_sessions_total", transport="sse") == 1
    assert value(after, "bridge_sessions_active", transport="streamable") == 0
    assert value(after, "bridge_sessions_active", transport="sse") == 0
    assert value(after, "bridge_children_spawned_total") == 3
    assert value(after, "bridge_spawn_failures_total") == 0
    # client → child: initialize, notifications/initialized and the calls per Streamable session; one ping
    assert value(after, "bridge_messages_total", direction="client_to_child") == 2 * (2 + calls) + 1
    # child → client: the initialize result and one answer per call; the ping's answer
    assert value(after, "bridge_messages_total", direction="child_to_client") == 2 * (1 + calls) + 1
    assert value(after, "bridge_message_bytes_total", direction="client_to_child") > 0
    assert value(after, "bridge_request_duration_seconds_count", method="tools/call") == 2 * calls
    assert value(after, "bridge_request_duration_seconds_count", method="initialize") == 2
    assert value(after, "bridge_request_duration_seconds_count", method="ping") == 1
    assert value(after, "bridge_http_errors_total", status="404", reason="other_replica_session") == 1  # "nope"
    assert value(after, "bridge_http_errors_total", status="406", reason="not_acceptable") == 1


def test_every_session_log_line_carries_its_id_and_no_secret(bridge: BridgeFactory) -> None:
    token, mapped = "inbound-token-abcdef", "mapped-secret-value-123"
    options = ("--auth-token", token, "--header-env", "X-Echo-Tag=ECHO_TAG", "--log-format", "json",
               "--log-level", "debug")
    with bridge(*options) as b, httpx.Client(
        timeout=20, headers={"authorization": f"Bearer {token}", "x-echo-tag": mapped}
    ) as client:
        url = b.url + "/mcp"
        with session(client, url) as first, session(client, url) as second:
            for session_id in (first, second):
                post(client, url, session_id, call(1, "noise"))
                post(client, url, session_id, call(2, "echo", text="hello"))
        ids = {first, second}
    records = [json.loads(line) for line in b.log().splitlines() if line.startswith("{")]
    assert records, "no JSON log lines"
    of_sessions = [r for r in records if r["logger"] in ("bridge.session", "bridge.child")]
    assert len(of_sessions) >= 8
    assert {r["session"] for r in of_sessions} == ids, of_sessions
    assert any("not JSON" in r["msg"] and r["session"] in ids for r in records)
    assert token not in b.log() and mapped not in b.log()
