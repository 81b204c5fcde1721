"""HAProxy in front of three bridge replicas, running the shipped `deploy/haproxy/haproxy.cfg`.

The file is run as it is: its `"${MCP_LB_...-default}"` values are environment variables, and the
test sets them to its own loopback ports (one source of truth, no copy of the configuration here).
HAProxy runs in the foreground (`-db`) in its own process group; its runtime API (a unix socket in
the test's directory) tells which state it sees each replica in. Each replica is `bridge run
--replica-id rN --agent-port P` around the echo test server, and the `mcp` SDK's own clients make
the sessions:

(a) sticky sessions on both transports spread over all replicas, none misrouted;
(b) a replica SIGKILLed mid-run: only its sessions fail, fast (a 404 from a live replica, or the
    stream cut), new sessions go to live replicas; restarted, it takes new sessions and hears
    nothing of old ones;
(c) a replica SIGTERMed under load drains through the agent check: its in-flight calls finish, its
    sessions go on to their end, new sessions go to the others.

Each scenario prints a one-line measured summary (run `pytest -s` to see them). If HAProxy is
not installed the tests fail: install the Debian package `haproxy` (`.ci/run` does).
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import httpx
import pytest
from mcp import Client

from tests.replicas.harness import (
    ROOT,
    TRANSPORTS,
    Fleet,
    Replica,
    SessionResult,
    Transport,
    client_transport,
    describe,
    replica_of,
    run_sessions,
    spread,
)
from tests.support.procs import end_group, free_port

CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
FRONTEND = "mcp"
BACKEND = "mcp_bridges"
NAMES = ("r1", "r2", "r3")
REPLICA_OPTIONS = ("--drain-idle", "3")  # a drained replica's idle sessions end soon (calls pause 0.3 s)
FAST = 3.0  # seconds within which a lost replica's sessions must have failed
WITHIN = 30.0  # no session of these tests may take longer (a hang fails, it does not stall the run)

pytestmark = pytest.mark.timeout(120)


# --- HAProxy ----------------------------------------------------------------------------------


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None)
    if found is None:
        pytest.fail("HAProxy is not installed: these tests need it. Install the Debian package `haproxy` "
                    "(apt-get install haproxy; .ci/run does it).", pytrace=False)
    return found


def lb_env(fleet: Fleet, agents: Mapping[str, int], port: int, admin_socket: Path) -> dict[str, str]:
    """The values the configuration's `${MCP_LB_...}` variables take in this test."""
    env = {"MCP_LB_BIND": f"127.0.0.1:{port}", "MCP_LB_SOCKET": str(admin_socket)}
    for replica in fleet.replicas:
        env[f"MCP_LB_{replica.name.upper()}"] = f"127.0.0.1:{replica.port}"
        env[f"MCP_LB_{replica.name.upper()}_AGENT"] = str(agents[replica.name])
    return env


@dataclass
class Balancer:
    """A running HAProxy and its runtime API."""

    proc: subprocess.Popen[bytes]
    url: str
    admin_socket: Path
    log_path: Path

    def admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin_socket))
            sock.sendall(command.encode() + b"\n")
            chunks: list[bytes] = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` rows of our frontend and backend, by svname (FRONTEND, BACKEND, r1, ...)."""
        lines = [line for line in self.admin("show stat").splitlines() if line.strip()]
        header = lines[0].lstrip("# ").split(",")
        rows: dict[str, dict[str, str]] = {}
        for values in csv.reader(lines[1:]):
            row = dict(zip(header, values, strict=False))
            if row.get("pxname") in (FRONTEND, BACKEND):
                rows[row["svname"]] = row
        return rows

    def counters(self, name: str) -> Counters:
        return Counters.of(self.stats()[name])

    def status(self, server: str) -> str:
        return self.stats()[server]["status"]

    async def until(self, server: str, status: str, within: float) -> float:
        """Wait until HAProxy shows `server` in `status`; returns the seconds it took."""
        start = time.monotonic()
        seen = ""
        while time.monotonic() - start < within:
            seen = self.status(server)
            if seen == status:
                return time.monotonic() - start
            await anyio.sleep(0.05)
        raise AssertionError(f"HAProxy still shows {server} as {seen!r}, not {status!r}, after {within}s "
                             f"(log: {self.log_path})")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Counters:
    """The `show stat` counters these tests read (for one frontend, backend or server)."""

    hrsp_4xx: int = 0
    hrsp_5xx: int = 0
    wretr: int = 0
    wredis: int = 0

    @classmethod
    def of(cls, row: Mapping[str, str]) -> Counters:
        return cls(**{name: int(row.get(name) or 0) for name in ("hrsp_4xx", "hrsp_5xx", "wretr", "wredis")})

    def __sub__(self, other: Counters) -> Counters:
        return Counters(self.hrsp_4xx - other.hrsp_4xx, self.hrsp_5xx - other.hrsp_5xx,
                        self.wretr - other.wretr, self.wredis - other.wredis)


@contextlib.contextmanager
def replicas(log_dir: Path) -> Iterator[tuple[Fleet, dict[str, int]]]:
    """r1..r3 as the harness's `fleet` makes them, but each with its own agent port."""
    agents = {name: free_port() for name in NAMES}
    members = [Replica(name, free_port(), log_dir, ("--agent-port", str(agents[name]), *REPLICA_OPTIONS))
               for name in NAMES]
    try:
        for replica in members:
            replica.start()
        yield Fleet(members), agents
    finally:
        for replica in members:
            replica.stop()


@contextlib.contextmanager
def balancer(binary: str, fleet: Fleet, agents: Mapping[str, int], log_dir: Path) -> Iterator[Balancer]:
    port = free_port()
    admin_socket = log_dir / "admin.sock"
    log_path = log_dir / "haproxy.log"
    env = {**os.environ, **lb_env(fleet, agents, port, admin_socket)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([binary, "-db", "-f", str(CONFIG)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=log_dir, start_new_session=True)
    lb = Balancer(proc, f"http://127.0.0.1:{port}", admin_socket, log_path)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {proc.returncode}:\n{lb.log_tail()}")
            with contextlib.suppress(OSError, IndexError, KeyError):
                if all(lb.status(name) == "UP" for name in NAMES):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy did not see all replicas up within 15s:\n{lb.log_tail()}")
            time.sleep(0.1)
        yield lb
    finally:
        end_group(proc)


@pytest.fixture(scope="module")
def lb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Balancer]]:
    binary = haproxy_binary()
    log_dir = tmp_path_factory.mktemp("haproxy")
    with replicas(log_dir) as (fleet, agents), balancer(binary, fleet, agents, log_dir) as running:
        yield fleet, running


async def all_up(fleet: Fleet, lb: Balancer) -> None:
    """Every replica running and seen up by HAProxy (whatever an earlier test left behind)."""
    for replica in fleet.replicas:
        if replica.proc is None or replica.proc.poll() is not None:
            await anyio.to_thread.run_sync(replica.start)
    for replica in fleet.replicas:
        await lb.until(replica.name, "UP", 15)


def misrouted(fleet: Fleet) -> dict[str, int]:
    return {replica.name: replica.misrouted() for replica in fleet.replicas}


# --- sessions ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One SDK session through HAProxy: what it saw, and when."""

    result: SessionResult
    ended: float = 0.0
    held: tuple[float, float] | None = None  # when its long call was sent and answered

    @property
    def replica(self) -> str:
        return self.result.replica


async def session(base_url: str, transport: Transport, calls: int, *, pause: float = 0.0, hold: float = 0.0,
                  on_start: Callable[[Transport, str], None] | None = None) -> Run:
    """Like the harness's `one_session`, and: `on_start` once the serving replica is known, then a
    `slow` call of `hold` seconds, then the echo calls; the end time and the leaf error kept."""
    run = Run(SessionResult(transport))
    outcome = run.result
    try:
        with anyio.fail_after(WITHIN):
            async with Client(client_transport(base_url, transport), read_timeout_seconds=10.0, mode="legacy") as client:
                outcome.replica = await replica_of(client)
                if on_start is not None:
                    on_start(transport, outcome.replica)
                if hold:
                    sent = time.monotonic()
                    answer = await client.call_tool("slow", {"seconds": hold})
                    if answer.is_error:
                        raise RuntimeError(f"slow call: tool error {answer.content!r}")
                    run.held = (sent, time.monotonic())
                for n in range(calls):
                    answer = await client.call_tool("echo", {"text": f"call {n}"})
                    if answer.is_error:
                        raise RuntimeError(f"call {n}: tool error {answer.content!r}")
                    outcome.calls_ok += 1
                    if pause:
                        await anyio.sleep(pause)
    except Exception as exc:  # the failure is the result, counted by the test
        outcome.error = describe(exc)
    run.ended = time.monotonic()
    return run


class Load:
    """Sessions started in a task group, collected as they end; `started` fires when the first
    `expect` of them know their replica (`placed`: which transport went where, as they start)."""

    def __init__(self, tg: anyio.abc.TaskGroup, base_url: str, expect: int = 0) -> None:
        self.tg, self.base_url = tg, base_url
        self.runs: list[Run] = []
        self.expect = expect
        self.placed: list[tuple[Transport, str]] = []
        self.started = anyio.Event()
        if not expect:
            self.started.set()

    def _one_started(self, transport: Transport, replica: str) -> None:
        self.placed.append((transport, replica))
        if len(self.placed) >= self.expect:
            self.started.set()

    def holding_both(self) -> list[str]:
        both = [name for name in NAMES if all((t, name) in self.placed for t in TRANSPORTS)]
        assert both, f"no replica holds sessions of both transports: {self.placed}"
        return both

    def busiest(self) -> str:
        """Of the replicas holding sessions of both transports, the one holding the most."""
        return max(self.holding_both(), key=lambda name: sum(r == name for _, r in self.placed))

    def start(self, transport: Transport, calls: int, *, pause: float = 0.0, hold: float = 0.0,
              into: list[Run] | None = None) -> None:
        target = self.runs if into is None else into

        async def go() -> None:
            target.append(await session(self.base_url, transport, calls, pause=pause, hold=hold,
                                        on_start=self._one_started))

        self.tg.start_soon(go)


async def legacy_post(base_url: str, replica: str) -> tuple[int, float]:
    """POST /messages for a session id of `replica`'s (one it never gave): the status, and how long."""
    began = time.monotonic()
    with anyio.fail_after(5):
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(f"{base_url}/messages", params={"session_id": f"{replica}.gone"},
                                         json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    return response.status_code, time.monotonic() - began


def by_transport(runs: Sequence[Run]) -> dict[str, dict[str, int]]:
    return {t: spread([r.result for r in runs if r.result.transport == t]) for t in TRANSPORTS}


def failures(runs: Sequence[Run]) -> list[str]:
    return [f"{r.result.transport}@{r.replica or '?'}: {r.result.error}" for r in runs if not r.result.ok]


# --- the tests --------------------------------------------------------------------------------


def test_config_is_valid_and_is_what_the_test_runs() -> None:
    """`haproxy -c` accepts the shipped file without a warning; every variable it reads is one this
    test sets; its servers are the replica ids its routing rules name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_LB_")}
    checked = subprocess.run([haproxy_binary(), "-c", "-f", str(CONFIG)], capture_output=True, text=True,
                             timeout=30, env=env, check=False)
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0 and "Configuration file is valid" in output, output
    assert "WARNING" not in output and "ALERT" not in output, output

    text = CONFIG.read_text(encoding="utf-8")
    fake = Fleet([Replica(name, 1, Path(".")) for name in NAMES])
    wanted = set(lb_env(fake, dict.fromkeys(NAMES, 1), 1, Path("admin.sock")))
    assert set(re.findall(r"\$\{(MCP_LB_[A-Z0-9_]+)-", text)) == wanted
    assert tuple(re.findall(r"^\s*server\s+(\S+)", text, re.MULTILINE)) == NAMES
    for name in NAMES:
        assert re.search(rf"^\s*use-server {name} if .*url_param\(session_id\) -m beg {name}\.", text,
                         re.MULTILINE), f"no legacy SSE rule for {name}"
    for needed in ("option redispatch", "stick store-response res.hdr(mcp-session-id)",
                   "stick match req.hdr(mcp-session-id)", "agent-check", "uri /healthz",
                   "http-request del-header Forwarded"):
        assert needed in text, needed
    assert "/readyz" not in re.sub(r"#.*", "", text), "a balancer must not check /readyz"


@pytest.mark.anyio
async def test_sticky_sessions_spread_over_all_replicas(lb: tuple[Fleet, Balancer]) -> None:
    fleet, hap = lb
    await all_up(fleet, hap)
    before, front = misrouted(fleet), hap.counters("FRONTEND")
    began = time.monotonic()
    results: dict[Transport, list[SessionResult]] = {}

    async def one(transport: Transport) -> None:
        results[transport] = await run_sessions(hap.url, transport, 20, 10)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for transport in TRANSPORTS:
                tg.start_soon(one, transport)
    elapsed = time.monotonic() - began
    after = misrouted(fleet)
    wrong = {name: after[name] - before[name] for name in after}
    errors5 = (hap.counters("FRONTEND") - front).hrsp_5xx

    for transport, done in results.items():
        bad = [r.error for r in done if not r.ok]
        assert not bad, f"{transport}: {len(bad)} of {len(done)} sessions failed: {bad[:3]}"
        assert all(r.calls_ok == 10 for r in done)
        assert set(spread(done)) == set(NAMES), f"{transport} sessions did not reach every replica: {spread(done)}"
    assert sum(wrong.values()) == 0, f"misrouted requests: {wrong}"
    assert errors5 == 0
    print(f"\nhaproxy (a) sticky: 40/40 sessions ok (20 per transport, 10 calls each), 0 misrouted, 0 5xx; "
          f"streamable {spread(results['streamable'])}, sse {spread(results['sse'])}; {elapsed:.1f}s")


@pytest.mark.anyio
async def test_lost_replica_costs_only_its_own_sessions(lb: tuple[Fleet, Balancer]) -> None:
    fleet, hap = lb
    await all_up(fleet, hap)
    before, front = misrouted(fleet), hap.counters("FRONTEND")
    fresh: list[Run] = []

    with anyio.fail_after(WITHIN + 10):
        async with anyio.create_task_group() as tg:
            load = Load(tg, hap.url, expect=18)
            for transport in TRANSPORTS:
                for _ in range(9):
                    load.start(transport, 10, pause=0.3)
            await load.started.wait()
            victim = fleet.by_name(load.busiest())
            lost = hap.counters(victim.name)
            await anyio.sleep(0.1)
            killed = time.monotonic()
            await anyio.to_thread.run_sync(victim.kill)
            # New sessions while HAProxy still believes the victim is up: refused, redispatched.
            for transport in TRANSPORTS:
                for _ in range(5):
                    load.start(transport, 2, into=fresh)
            legacy = [await legacy_post(hap.url, victim.name)]
            marked_down = await hap.until(victim.name, "DOWN", 10)
            legacy.append(await legacy_post(hap.url, victim.name))
    name = victim.name
    wrong = {n: count - before[n] for n, count in misrouted(fleet).items() if n != name}
    delta, redispatched = hap.counters("FRONTEND") - front, (hap.counters(name) - lost).wredis

    mine = [r for r in load.runs if r.replica == name]
    theirs = [r for r in load.runs if r.replica != name]
    assert all(not r.result.ok for r in mine), f"{name}'s sessions went on after its SIGKILL: {[r.result for r in mine]}"
    latency = {t: max((r.ended - killed for r in mine if r.result.transport == t), default=0.0) for t in TRANSPORTS}
    assert max(latency.values()) < FAST, f"{name}'s sessions took {latency}s to fail"
    for r in mine:
        if r.result.transport == "streamable":  # a 404: the bridge's body, or the SDK's words for it
            assert re.search(r"Session (not found|terminated)", r.result.error), r.result.error
        else:  # legacy SSE learns it from its stream, cut when the replica went
            assert re.search(r"closed|404", r.result.error), r.result.error
    assert not failures(theirs), failures(theirs)
    assert all(r.result.calls_ok == 10 for r in theirs)
    assert not failures(fresh), failures(fresh)
    assert name not in spread([r.result for r in fresh]), by_transport(fresh)
    streamable_lost = sum(r.result.transport == "streamable" for r in mine)
    assert sum(wrong.values()) >= streamable_lost, f"no 404 from a live replica for {name}'s sessions: {wrong}"
    assert delta.hrsp_5xx == 0, f"{delta.hrsp_5xx} 5xx answers reached clients:\n{hap.log_tail()}"
    assert [status for status, _ in legacy] == [404, 404], f"legacy POST for a {name} id, before/after DOWN: {legacy}"

    # Back on the same port: it takes new sessions, and nothing of an old one reaches it.
    await anyio.to_thread.run_sync(victim.start)
    back_up = await hap.until(name, "UP", 15)
    with anyio.fail_after(WITHIN):
        async with anyio.create_task_group() as tg:
            later = Load(tg, hap.url)
            for transport in TRANSPORTS:
                for _ in range(6):
                    later.start(transport, 3)
    assert not failures(later.runs), failures(later.runs)
    on_victim = sum(r.replica == name for r in later.runs)
    assert on_victim >= 1, f"the restarted replica took no new session: {by_transport(later.runs)}"
    assert victim.misrouted() == 0, "a request for an old session reached the restarted replica"
    print(f"\nhaproxy (b) SIGKILL {name}: its {len(mine)} sessions ({streamable_lost} streamable, "
          f"{len(mine) - streamable_lost} sse) all failed after the kill, streamable within "
          f"{latency['streamable']:.2f}s (404 from live replicas: {sum(wrong.values())}), sse within "
          f"{latency['sse']:.2f}s (stream cut); {len(theirs)}/{len(theirs)} others ok; "
          f"{len(fresh)}/{len(fresh)} new sessions ok on {spread([r.result for r in fresh])} "
          f"({redispatched} requests redispatched off {name}), 0 5xx; a legacy POST for a {name} id: 404 before HAProxy "
          f"marked it DOWN ({legacy[0][1] * 1000:.0f} ms as the busy client saw it) and after "
          f"({legacy[1][1] * 1000:.0f} ms); DOWN "
          f"{marked_down:.1f}s after the kill; restarted: UP after {back_up:.1f}s, "
          f"{len(later.runs)}/{len(later.runs)} new sessions ok ({on_victim} on {name}), "
          f"0 requests for old sessions on it")


@pytest.mark.anyio
async def test_draining_replica_finishes_its_sessions(lb: tuple[Fleet, Balancer]) -> None:
    fleet, hap = lb
    await all_up(fleet, hap)
    before, front = misrouted(fleet), hap.counters("FRONTEND")
    early: list[Run] = []
    fresh: list[Run] = []

    with anyio.fail_after(WITHIN + 10):
        async with anyio.create_task_group() as tg:
            load = Load(tg, hap.url, expect=18)
            for transport in TRANSPORTS:
                for _ in range(9):
                    load.start(transport, 8, pause=0.3, hold=3.0)
            await load.started.wait()
            # The replica leastconn gives the next new session to (fewest connections now). Its agent
            # check is held back for a moment, so new sessions surely reach it while it drains and
            # HAProxy does not know yet (at worst `agent-inter` long in real life).
            current = hap.stats()
            victim = fleet.by_name(min(load.holding_both(), key=lambda n: int(current[n]["scur"] or 0)))
            name = victim.name
            refused = hap.counters(name)
            hap.admin(f"disable agent {BACKEND}/{name}")
            termed = time.monotonic()
            victim.terminate()
            for n in range(8):  # refused with 503 by the draining replica, retried on another one
                load.start(TRANSPORTS[n % 2], 2, into=early)
                await anyio.sleep(0.1)
            hap.admin(f"enable agent {BACKEND}/{name}")
            agent_back = time.monotonic()
            drain_seen = await hap.until(name, "DRAIN (agent)", 10)
            for n in range(8):  # HAProxy knows: the draining replica is not even asked
                load.start(TRANSPORTS[n % 2], 2, into=fresh)
                await anyio.sleep(0.1)
    wrong = {n: count - before[n] for n, count in misrouted(fleet).items()}
    delta, retried = hap.counters("FRONTEND") - front, (hap.counters(name) - refused).wredis
    proc = victim.proc
    assert proc is not None
    exit_code = await anyio.to_thread.run_sync(lambda: proc.wait(20))
    drained = time.monotonic() - termed

    mine = [r for r in load.runs if r.replica == name]
    assert not failures(load.runs), failures(load.runs)
    assert all(r.result.calls_ok == 8 and r.held is not None for r in load.runs)
    in_flight = sum(1 for r in mine if r.held is not None and r.held[0] < termed < r.held[1])
    assert in_flight >= 1, f"no call of {name}'s was in flight at its SIGTERM"
    for batch in (early, fresh):
        assert not failures(batch), failures(batch)
        assert name not in spread([r.result for r in batch]), f"new sessions reached the draining replica: {by_transport(batch)}"
    assert retried >= 1, f"no new session was refused by {name} and retried elsewhere: {by_transport(early)}"
    assert sum(wrong.values()) == 0, f"misrouted requests: {wrong}"
    assert delta.hrsp_5xx == 0, f"{delta.hrsp_5xx} 5xx answers reached clients:\n{hap.log_tail()}"
    assert exit_code == 0, f"the drained replica exited with {exit_code}"
    last_end = max(r.ended for r in mine) - termed
    others = len(load.runs) - len(mine)
    print(f"\nhaproxy (c) SIGTERM {name} under load: its {len(mine)} sessions all finished ({in_flight} calls in "
          f"flight at the signal, last session ended {last_end:.1f}s after it), {others}/{others} others ok; "
          f"before HAProxy knew: {len(early)}/{len(early)} new sessions ok on {spread([r.result for r in early])} "
          f"({retried} refused by {name} with 503 and retried elsewhere); agent check said drain "
          f"{drain_seen:.1f}s after it was enabled (agent-inter 1s, {agent_back - termed:.1f}s after the "
          f"signal), then {len(fresh)}/{len(fresh)} new sessions ok on {spread([r.result for r in fresh])}; "
          f"0 misrouted, 0 5xx; {name} exited 0 {drained:.1f}s after the signal")
