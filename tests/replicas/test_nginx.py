"""nginx (open source) in front of three bridge replicas, configured by deploy/nginx/replicas.conf.

The shipped recipe is the one source of truth: the test renders it with its own ports (the replica
addresses, the listen line, the access log; the TLS lines dropped), checks it with `nginx -t` and
runs nginx in the foreground in front of `fleet()`. The scenarios: (a) sessions on both transports
stick to the replica that minted their id and spread over all three; (b) a replica lost to SIGKILL
costs only its own sessions, which end fast on a backup's 404, and once restarted it takes new
sessions and sees no old one; (c) a replica draining after SIGTERM finishes its calls and sessions
while new sessions go to the others. Each scenario prints one summary line (`pytest -s` shows it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import TaskGroup
from mcp import Client

from tests.replicas.harness import (
    ROOT,
    TRANSPORTS,
    Fleet,
    SessionResult,
    Transport,
    client_transport,
    describe,
    fleet,
    replica_of,
    run_sessions,
    spread,
)
from tests.support.procs import free_port, script, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120),
              pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

RECIPE = ROOT / "deploy" / "nginx" / "replicas.conf"
RECIPE_PORTS = {8001: "r1", 8002: "r2", 8003: "r3"}  # the example addresses 127.0.0.1:800N in the recipe
REPLICA_OPTIONS = ("--trusted-proxy", "127.0.0.1", "--drain-idle", "2", "--drain-timeout", "30")
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
DEBIAN_NGINX = Path("/usr/sbin/nginx")  # not on PATH for every user
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "nginx-test", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


# --- the recipe, rendered -----------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or (str(DEBIAN_NGINX) if DEBIAN_NGINX.exists() else None)
    if found is None:
        pytest.fail("nginx is not installed: install the Debian package nginx-light "
                    "(apt-get install nginx-light, as .ci/run does)", pytrace=False)
    return found


def substitute(text: str, pattern: str, new: str | Callable[[re.Match[str]], str], count: int, what: str) -> str:
    result, found = re.subn(pattern, new, text, flags=re.M)
    assert found == count, f"replicas.conf has {found} {what}, the test expects {count}: update the test with it"
    return result


def render(listen: int, ports: Mapping[str, int], access_log: Path) -> str:
    """replicas.conf with this test's addresses; nothing else changed."""
    text = RECIPE.read_text(encoding="utf-8")
    text = substitute(text, r"^(\s*)listen 443 ssl;", rf"\g<1>listen 127.0.0.1:{listen};", 1, "`listen 443 ssl`")
    text = substitute(text, r"^\s*ssl_certificate(?:_key)?\s[^;]*;\n", "", 2, "ssl_certificate lines")
    text = substitute(text, r"/var/log/nginx/mcp-access\.log", str(access_log), 1, "access logs")
    seen: Counter[str] = Counter()

    def port_of(match: re.Match[str]) -> str:
        name = RECIPE_PORTS[int(match.group(2))]
        seen[name] += 1
        return f"{match.group(1)}127.0.0.1:{ports[name]}"

    text = substitute(text, r"^(\s*server\s+)127\.0\.0\.1:(800[123])\b", port_of, 12, "replica server lines")
    assert seen == {"r1": 4, "r2": 4, "r3": 4}, f"each replica in mcp_new, its own upstream and 2 backups: {seen}"
    return text


def main_conf(work: Path, recipe: Path) -> str:
    """The nginx.conf around the recipe: everything under `work`, nothing of the system's."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers as nobody could not reach tmp_path
    temp = "".join(f"    {kind}_temp_path {work / kind};\n" for kind in TEMP_PATHS)
    return (f"{user}worker_processes 2;\npid {work / 'nginx.pid'};\nerror_log {work / 'error.log'} notice;\n"
            f"events {{\n    worker_connections 1024;\n}}\nhttp {{\n{temp}    access_log off;\n"
            f"    include {recipe};\n}}\n")


@dataclass(frozen=True)
class Entry:
    """One access-log line of the recipe's `mcp_upstream` format."""

    method: str
    path: str
    status: int
    upstreams: tuple[str, ...]  # every replica nginx tried, in order
    statuses: tuple[str, ...]  # what each answered ("502" for a refused connection)


LOG_LINE = re.compile(r'"(\S+) (\S+)" (\d{3}) upstream=(.*) upstream_status=(.*) time=\S+$')


@dataclass
class Nginx:
    url: str
    access_log: Path
    error_log: Path

    def entries(self) -> list[Entry]:
        found = []
        for line in self.access_log.read_text(encoding="utf-8").splitlines():
            match = LOG_LINE.search(line)
            assert match, f"not the recipe's log format: {line!r}"
            method, path, status, upstreams, statuses = match.groups()
            found.append(Entry(method, path, int(status), tuple(re.split(r", | : ", upstreams)),
                               tuple(re.split(r", | : ", statuses))))
        return found


def configure(work: Path, listen: int, ports: Mapping[str, int]) -> list[str]:
    """Write the rendered recipe and its nginx.conf under `work`, check them with `nginx -t`; the argv."""
    binary = nginx_binary()
    work.mkdir(exist_ok=True)
    recipe = work / "replicas.conf"
    recipe.write_text(render(listen, ports, work / "access.log"), encoding="utf-8")
    conf = work / "nginx.conf"
    conf.write_text(main_conf(work, recipe), encoding="utf-8")
    argv = [binary, "-p", f"{work}/", "-c", str(conf), "-e", str(work / "error.log")]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"nginx -t rejects the rendered recipe:\n{checked.stderr}"
    return argv


@contextlib.contextmanager
def nginx_in_front(replicas: Fleet, work: Path) -> Iterator[Nginx]:
    """nginx in the foreground (its own process group), configured by the rendered recipe."""
    port = free_port()
    argv = configure(work, port, {r.name: r.port for r in replicas.replicas})
    with start_server([*argv, "-g", "daemon off;"], f"http://127.0.0.1:{port}/healthz", work / "nginx.out"):
        yield Nginx(f"http://127.0.0.1:{port}", work / "access.log", work / "error.log")


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[Fleet, Nginx]]:
    nginx_binary()  # before starting anything
    with fleet(tmp_path, 3, REPLICA_OPTIONS) as replicas, nginx_in_front(replicas, tmp_path / "nginx") as proxy:
        yield replicas, proxy


@dataclass
class Block:
    """One directive of the recipe: its name, its arguments, and what its {} block holds."""

    name: str
    args: list[str]
    children: list[Block] = field(default_factory=list)

    def all(self, name: str, *args: str) -> list[Block]:
        return [c for c in self.children if c.name == name and c.args[: len(args)] == list(args)]

    def one(self, name: str, *args: str) -> Block:
        found = self.all(name, *args)
        assert len(found) == 1, f"replicas.conf: expected one `{name} {' '.join(args)}`, found {len(found)}"
        return found[0]

    def values(self, name: str) -> list[str]:
        return self.one(name).args


def parse(text: str) -> Block:
    """nginx configuration syntax, enough for the recipe: quoted words, `;` and nested blocks."""
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"]+', text)
    root = Block("", [])
    stack: list[Block] = [root]
    words: list[str] = []
    for token in tokens:
        if token in ";{":
            block = Block(words[0], words[1:])
            stack[-1].children.append(block)
            if token == "{":
                stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token[1:-1] if token.startswith('"') else token)
    assert stack == [root] and not words, "unbalanced braces"
    return root


def test_the_recipe_routes_new_sessions_and_sessions_apart(tmp_path: Path) -> None:
    """The recipe's promises, read from the file (the scenarios below show them at work)."""
    conf = parse(RECIPE.read_text(encoding="utf-8"))
    ports = {name: port for port, name in RECIPE_PORTS.items()}
    new = conf.one("upstream", "mcp_new")
    assert new.all("least_conn") and new.all("zone")
    assert sorted(s.args[0] for s in new.all("server")) == sorted(f"127.0.0.1:{p}" for p in ports.values())
    routes = {e.name: e.args[0] for e in conf.one("map", "$http_mcp_session_id$arg_session_id").children}
    assert routes == {"": "", **{rf"~^{n}\.": f"mcp_{n}" for n in ports}, "default": "mcp_new"}
    for name, port in ports.items():
        upstream = conf.one("upstream", f"mcp_{name}")
        servers = {s.args[0]: s.args[1:] for s in upstream.all("server")}
        assert servers.pop(f"127.0.0.1:{port}") == ["max_fails=0"], "its own replica, never marked down"
        assert sorted(servers) == sorted(f"127.0.0.1:{p}" for n, p in ports.items() if n != name)
        assert all(args == ["backup"] for args in servers.values()), "the other replicas only as backups"
    server = conf.one("server")
    headers = {b.args[0].lower(): b.args[1] for b in server.all("proxy_set_header")}
    assert headers["forwarded"] == "" and headers["connection"] == ""
    assert {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"} <= set(headers)
    locations = server.all("location")
    assert not [b for loc in locations for b in loc.all("proxy_set_header")], \
        "a location's own proxy_set_header would drop the server's (Forwarded included)"
    assert server.values("proxy_buffering") == ["off"] and server.values("proxy_http_version") == ["1.1"]
    assert server.one("location", "=", "/metrics").values("return") == ["404"]
    sticky, fresh = server.one("location", "/"), server.one("location", "@new_session")
    assert sticky.values("proxy_pass") == ["http://$mcp_replica"]
    assert fresh.values("proxy_pass") == ["http://mcp_new"]
    assert {"http_503", "non_idempotent"} <= set(fresh.values("proxy_next_upstream"))
    assert not {"http_503", "non_idempotent"} & set(sticky.values("proxy_next_upstream")), \
        "a session's request is never sent to a replica that cannot hold it, except on a failed connection"
    configure(tmp_path, free_port(), {name: free_port() for name in ports})


def test_the_recipe_names_only_real_bridge_flags() -> None:
    text = RECIPE.read_text(encoding="utf-8")
    comments = " ".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    used = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", comments))
    assert {"--replica-id", "--trusted-proxy"} <= used
    env = {**os.environ, "COLUMNS": "250", "TERM": "dumb", "NO_COLOR": "1"}
    shown = subprocess.run([script("bridge"), "run", "--help"], capture_output=True, text=True, env=env,
                           timeout=60, check=True).stdout
    assert sorted(used - set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", shown))) == []


# --- driving sessions ---------------------------------------------------------------------------


@dataclass
class Timed:
    """A session's result, when it ended (0 while it runs), and how its slow call (if any) went."""

    result: SessionResult
    ended: float = 0.0
    in_slow: bool = False
    slow_done: bool = False


@dataclass
class Load:
    """Sessions under way: which replica holds each, and how many of their calls are in flight."""

    holders: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # echo calls under way, by replica

    async def session(self, base_url: str, transport: Transport, calls: int, pause: float, slow: float,
                      out: list[Timed], within: float = 30.0) -> None:
        """One SDK session: find its replica, one `slow` call if `slow`, then `calls` echo calls."""
        timed = Timed(SessionResult(transport))
        outcome = timed.result
        out.append(timed)
        try:
            with anyio.fail_after(within):
                async with Client(client_transport(base_url, transport), read_timeout_seconds=10.0, mode="legacy") as client:
                    outcome.replica = await replica_of(client)
                    self.holders[outcome.replica] += 1
                    if slow:
                        timed.in_slow = True
                        try:
                            result = await client.call_tool("slow", {"seconds": slow})
                        finally:
                            timed.in_slow = False
                        timed.slow_done = not result.is_error
                    for n in range(calls):
                        self.in_flight[outcome.replica] += 1
                        try:
                            result = await client.call_tool("echo", {"text": f"call {n}"})
                        finally:
                            self.in_flight[outcome.replica] -= 1
                        if result.is_error:
                            raise RuntimeError(f"call {n}: tool error {result.content!r}")
                        outcome.calls_ok += 1
                        await anyio.sleep(pause)
        except Exception as exc:  # the failure is the result, counted by the test
            outcome.error = describe(exc)[:300]
        timed.ended = time.monotonic()

    def start(self, tg: TaskGroup, base_url: str, per_transport: int, calls: int, pause: float = 0.0,
              slow: float = 0.0) -> list[Timed]:
        """Start `per_transport` sessions on each transport in `tg`; the list fills as they start."""
        out: list[Timed] = []
        for transport in TRANSPORTS:
            for _ in range(per_transport):
                tg.start_soon(self.session, base_url, transport, calls, pause, slow, out)
        return out

    def opened(self) -> int:
        return sum(self.holders.values())


async def until(predicate: Callable[[], bool], within: float, what: str) -> None:
    """Return as soon as `predicate()` holds (no await in between), or fail saying `what`."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await anyio.sleep(0.005)


async def batch(base_url: str, per_transport: int, calls: int) -> list[Timed]:
    load = Load()
    async with anyio.create_task_group() as tg:
        out = load.start(tg, base_url, per_transport, calls)
    return out


async def initialize_burst(base_url: str, count: int) -> list[str]:
    """`count` concurrent raw initialize POSTs through nginx: the session ids they got (then ended)."""
    opened: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:

        async def initialize() -> None:
            answer = await client.post(base_url + "/mcp", json=INITIALIZE, headers=ACCEPT)
            assert answer.status_code == 200, answer.text
            opened.append(answer.headers["mcp-session-id"])

        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(initialize)
        for session in opened:
            await client.delete(base_url + "/mcp", headers={"Mcp-Session-Id": session})
    return opened


def failed(results: list[Timed]) -> list[Timed]:
    return [t for t in results if not t.result.ok]


def spread_of(results: list[Timed]) -> dict[str, int]:
    return dict(sorted(spread([t.result for t in results]).items()))


def five_hundreds(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.status >= 500]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


# --- (a) sticky and spread ----------------------------------------------------------------------


async def test_sessions_stick_to_their_replica_and_spread_over_all(balanced: tuple[Fleet, Nginx]) -> None:
    replicas, proxy = balanced
    began = time.monotonic()
    parts = []
    with anyio.fail_after(60):
        for transport in TRANSPORTS:
            results = await run_sessions(proxy.url, transport, sessions=20, calls=10)
            bad = [r.error for r in results if not r.ok]
            assert not bad, f"{transport}: {len(bad)} of 20 sessions failed: {bad[:3]}"
            assert all(r.calls_ok == 10 for r in results)
            counts = spread(results)
            assert set(counts) == {"r1", "r2", "r3"}, f"{transport}: not spread over all three: {counts}"
            parts.append(f"{transport} 20/20 ok {dict(sorted(counts.items()))}")
    misrouted = await anyio.to_thread.run_sync(replicas.misrouted)
    assert misrouted == 0, "a request reached a replica that does not hold its session"
    entries = proxy.entries()
    # The SDK opens a Streamable HTTP session with a `server/discover` probe, which the bridge (an
    # initialize-era server) answers 400, and falls back to initialize: one 400 per session, no other.
    probes = [e for e in entries if (e.method, e.path, e.status) == ("POST", "/mcp", 400)]
    assert len(probes) <= 20
    assert not [e for e in entries if e.status >= 400 and e not in probes], "every other request succeeded"
    print(f"\nnginx (a) sticky+spread: {', '.join(parts)}; 400 calls; misrouted 0; "
          f"{len(entries)} requests ({len(probes)} discover-probe 400s), "
          f"{sum(len(e.upstreams) > 1 for e in entries)} retried; "
          f"{time.monotonic() - began:.1f}s")


async def test_the_edge_drops_client_forwarding_and_hides_metrics(balanced: tuple[Fleet, Nginx]) -> None:
    replicas, proxy = balanced
    direct = replicas.by_name("r1").url
    spoofed = {"Forwarded": "for=203.0.113.9;host=evil.example;proto=https", "X-Forwarded-Host": "evil.example"}
    async with httpx.AsyncClient(timeout=10) as client:
        # A trusted proxy's Forwarded header decides the host the bridge checks: from nginx's
        # address, this one is refused (421)...
        refused = await client.post(direct + "/mcp", json=INITIALIZE, headers={**ACCEPT, **spoofed})
        assert refused.status_code == 421, refused.text
        # ... but through nginx the client's own forwarding headers never reach the bridge.
        through = await client.post(proxy.url + "/mcp", json=INITIALIZE, headers={**ACCEPT, **spoofed})
        assert through.status_code == 200, through.text
        session = through.headers["mcp-session-id"]
        assert re.match(r"^r[123]\.", session), session
        gone = await client.delete(proxy.url + "/mcp", headers={"Mcp-Session-Id": session})
        assert gone.status_code in (200, 202, 204)
        assert (await client.get(direct + "/metrics")).status_code == 200
        for path in ("/metrics", "//metrics", "/%6Detrics", "/metrics?format=text"):
            hidden = await client.get(proxy.url + path)
            assert hidden.status_code == 404 and "bridge_" not in hidden.text, path
        assert (await client.get(proxy.url + "/healthz")).status_code == 200


# --- (b) a replica lost ---------------------------------------------------------------------------


async def test_a_killed_replica_costs_only_its_sessions_and_rejoins(balanced: tuple[Fleet, Nginx]) -> None:
    replicas, proxy = balanced
    pause, calls = 0.3, 12
    load = Load()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            first = load.start(tg, proxy.url, per_transport=8, calls=calls, pause=pause)
            await until(lambda: load.opened() == 16, 20, "16 sessions open")
            await anyio.sleep(1.0)
            victim = replicas.by_name(load.holders.most_common(1)[0][0])
            await until(lambda: load.in_flight[victim.name] == 0, 5, f"no call in flight on {victim.name}")
            victim.kill()  # between two calls of every session it holds: nothing awaited since the check
            killed_at = time.monotonic()
            during = await batch(proxy.url, per_transport=6, calls=3)
        assert not failed(during), [t.result.error for t in failed(during)]
        assert victim.name not in spread_of(during), "a new session landed on the killed replica"

        lost = [t for t in first if t.result.replica == victim.name]
        kept = [t for t in first if t.result.replica != victim.name]
        assert lost and all(not t.result.ok for t in lost), "every session of the killed replica ends"
        assert all(t.result.ok and t.result.calls_ok == calls for t in kept), [t.result.error for t in failed(kept)]
        latency = [t.ended - killed_at for t in lost]
        assert max(latency) < pause + 3.0, f"sessions of the lost replica must fail fast: {latency}"
        errors = Counter(f"{t.result.transport}: {t.result.error}" for t in lost)
        # Streamable HTTP: the next call's 404 from a backup, with the bridge's JSON-RPC error. Legacy
        # SSE: the event stream, cut by the kill, ends the session before any call is sent.
        lost_streamable = [t for t in lost if t.result.transport == "streamable"]
        assert all(t.result.error == "MCPError: Session not found" for t in lost_streamable), errors
        assert all(t.result.error == "MCPError: Connection closed" for t in lost if t not in lost_streamable), errors

        backups = [r for r in replicas.replicas if r is not victim]
        backup_404 = sum([await anyio.to_thread.run_sync(r.misrouted) for r in backups])
        assert backup_404 >= len(lost_streamable), "their requests reached a backup, which answered 404"
        assert not five_hundreds(proxy.entries()), "no 5xx: a lost replica's requests get a backup's 404"

        async with httpx.AsyncClient(timeout=10) as client:
            stale = await client.post(proxy.url + "/mcp", json=INITIALIZED,
                                      headers={**ACCEPT, "Mcp-Session-Id": f"{victim.name}.stale"})
            assert stale.status_code == 404, "a request for a lost session: a backup's 404"
            await anyio.to_thread.run_sync(victim.start)
            restarted_at = time.monotonic()
            # That failed connection did not mark the replica down in its own upstream (max_fails=0):
            # a session it opens now (here directly) works through nginx at once.
            opened = await client.post(victim.url + "/mcp", json=INITIALIZE, headers=ACCEPT)
            fresh = {**ACCEPT, "Mcp-Session-Id": opened.headers["mcp-session-id"],
                     "Mcp-Protocol-Version": "2025-06-18"}
            assert (await client.post(proxy.url + "/mcp", json=INITIALIZED, headers=fresh)).status_code == 202
            assert (await client.delete(proxy.url + "/mcp", headers=fresh)).status_code in (200, 202, 204)
        after: list[Timed] = []
        while victim.name not in spread_of(after):  # nginx tries it again once fail_timeout has passed
            assert time.monotonic() - restarted_at < 15, f"the restarted replica got none: {spread_of(after)}"
            after += await batch(proxy.url, per_transport=1, calls=2)
            assert not failed(after), [t.result.error for t in failed(after)]
            await anyio.sleep(0.5)
        rejoined = time.monotonic() - restarted_at
        assert await anyio.to_thread.run_sync(victim.misrouted) == 0, "no request for an old session reached it"
        assert not five_hundreds(proxy.entries())

    print(f"\nnginx (b) SIGKILL {victim.name}: {len(lost)}/{len(first)} sessions lost (its own), {len(kept)} kept "
          f"{calls}/{calls} calls; lost ones ended {ms(min(latency))}-{ms(max(latency))} after the kill "
          f"(median {ms(statistics.median(latency))}): {dict(errors)}; backups answered {backup_404} 404s; "
          f"{len(during)} new sessions meanwhile ok on {spread_of(during)}; restarted {victim.name} took new "
          f"sessions after {rejoined:.1f}s ({len(after)} ok, {spread_of(after)}) and its own at once, "
          f"old-session requests to it 0; 5xx 0")


# --- (c) a replica drained ------------------------------------------------------------------------


async def test_a_draining_replica_finishes_its_work_while_new_sessions_go_elsewhere(
        balanced: tuple[Fleet, Nginx]) -> None:
    replicas, proxy = balanced
    pause, calls, slow = 0.25, 8, 1.5
    load = Load()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            first = load.start(tg, proxy.url, per_transport=6, calls=calls, pause=pause, slow=slow)
            await until(lambda: load.opened() == 12, 20, "12 sessions open")
            slowing = Counter(t.result.replica for t in first if t.in_slow)  # the last one opened at least
            victim = replicas.by_name(slowing.most_common(1)[0][0])
            caught = [t for t in first if t.in_slow and t.result.replica == victim.name]
            victim.terminate()  # nothing awaited since `caught` was taken
            drained_at = time.monotonic()
            # least_conn counts the open legacy SSE streams: send enough initializes at once that it
            # must pick the draining replica for some.
            streams = Counter(t.result.replica for t in first if t.result.transport == "sse")
            burst_size = 6 + sum(max(0, streams[victim.name] - streams[r.name]) for r in replicas.replicas)
            await anyio.sleep(0.3)  # the bridge has taken the signal
            burst = await initialize_burst(proxy.url, burst_size)
            during = await batch(proxy.url, per_transport=6, calls=3)
        assert not [s for s in burst if s.startswith(victim.name + ".")], burst
        assert not failed(during), [t.result.error for t in failed(during)]
        assert victim.name not in spread_of(during), "a new session landed on the draining replica"

        mine = [t for t in first if t.result.replica == victim.name]
        assert caught and all(t.slow_done for t in caught), "calls in flight at SIGTERM finish"
        assert all(t.result.ok and t.result.calls_ok == calls for t in first), [t.result.error for t in first]
        last_end = max(t.ended for t in mine) - drained_at

        proc = victim.proc
        assert proc is not None
        exit_code = await anyio.to_thread.run_sync(proc.wait, 15)  # the drain ends with its last session
        exited = time.monotonic() - drained_at
        assert exit_code == 0
        entries = proxy.entries()
        retried = [e for e in entries if "503" in e.statuses]
        assert all(e.status < 400 for e in retried), "new sessions met its 503 and went elsewhere"
        assert [e for e in retried if e.method == "POST"], "an initialize met its 503, sent on (non_idempotent)"
        assert not five_hundreds(entries)

    past_503 = dict(Counter(f"{e.method} {e.path}" for e in retried))
    print(f"\nnginx (c) SIGTERM {victim.name}: {len(caught)} slow calls in flight finished, its {len(mine)} "
          f"sessions went on to {calls}/{calls} calls (last ended {last_end:.1f}s after SIGTERM), exit {exit_code} "
          f"after {exited:.1f}s; {len(burst)} raw initializes + {len(during)} SDK sessions ok, none on it "
          f"({spread_of(during)}); retried past its 503: {past_503}; 5xx 0")
