"""`make image-test`: build the image and check it the way an operator will run it.

Builds the Dockerfile with Docker, or Podman when Docker is not reachable (`CONTAINER_ENGINE`
chooses), then runs two containers of that one image on a private network, with the settings
compose.yaml gives them (read-only root, tmpfs /tmp, no capabilities, no-new-privileges, limits,
the commands, the environment): the sandbox, and the bridge in front of mcp-jira-confluence with
.env.example's values and a fresh token. Then it checks, from the host through the published
loopback port and inside the containers:

- /healthz and /readyz answer 200, and a request without the token gets 401;
- `get-jira-issue` works over Streamable HTTP and over legacy SSE (the mcp SDK's own clients);
- the bridge runs as a non-root user, its root filesystem is read-only (and /tmp is writable),
  tini is PID 1 (one init, no second one), and no build artefact (/wheels) is in the image;
- `<engine> stop` with a session open drains it and the bridge exits 0, well within the grace;
- no container and no network of the run is left afterwards (the image is kept, tagged).

Without a reachable engine it prints one line saying so and exits 2. Any failed check: exit 1.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import yaml
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
TAG = "mcp-jira-confluence-bridge:image-test"
TOOL, ISSUE_KEY = "get-jira-issue", "DEMO-2"  # a seeded sandbox issue
STOP_GRACE = 45  # compose.yaml's stop_grace_period for the bridge


class CheckFailed(Exception):
    pass


def say(line: str) -> None:
    print(line, flush=True)


def check(ok: bool, what: str, detail: str = "") -> None:
    if not ok:
        raise CheckFailed(f"{what}{': ' + detail if detail else ''}")
    say(f"ok    {what}")


# --- the engine -----------------------------------------------------------------------------------


def reachable(engine: str) -> str:
    """'' when `engine info` answers, else why not."""
    if shutil.which(engine) is None:
        return "not installed"
    try:
        done = subprocess.run([engine, "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "`info` timed out"
    if done.returncode == 0:
        return ""
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"`info` exited {done.returncode}"


def find_engine() -> str | None:
    wanted = os.environ.get("CONTAINER_ENGINE")
    candidates = [wanted] if wanted else ["docker", "podman"]
    why: dict[str, str] = {}
    for engine in candidates:
        why[engine] = reachable(engine)
        if not why[engine]:
            return engine
    reasons = "; ".join(f"{engine}: {reason}" for engine, reason in why.items())
    print(f"image-test: no container engine reachable ({reasons}); start Docker or Podman "
          "(or set CONTAINER_ENGINE) and run `make image-test` again", file=sys.stderr)
    return None


class Engine:
    def __init__(self, name: str, run_id: str) -> None:
        self.name = name
        self.label = f"mcp-image-test={run_id}"
        self.network = run_id
        self.bridge = f"{run_id}-bridge"
        self.sandbox = f"{run_id}-sandbox"

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.name, *args], capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise CheckFailed(f"`{self.name} {' '.join(args[:3])} ...` exited {done.returncode}: "
                              f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done

    def inspect(self, what: str, template: str, kind: str = "container") -> str:
        return self.run(kind, "inspect", "--format", template, what).stdout.strip()

    def exec_python(self, container: str, code: str) -> subprocess.CompletedProcess[str]:
        return self.run("exec", container, "python", "-c", code, check=False, timeout=60)

    def leftovers(self) -> list[str]:
        containers = self.run("ps", "-a", "--filter", f"label={self.label}", "--format", "{{.Names}}",
                              check=False).stdout.split()
        networks = self.run("network", "ls", "--filter", f"label={self.label}", "--format", "{{.Name}}",
                            check=False).stdout.split()
        return [*containers, *networks]

    def clean(self) -> None:
        for container in (self.bridge, self.sandbox):
            self.run("rm", "--force", "--volumes", container, check=False, timeout=90)
        self.run("network", "rm", self.network, check=False)


# --- what compose.yaml gives each service ----------------------------------------------------------

INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: Any) -> str:
    """compose's ${VAR:-default}, with this run's environment ignored: the file's defaults."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


def compose_service(name: str) -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    service: dict[str, Any] = compose["services"][name]
    return service


def run_flags(service: dict[str, Any], engine: str) -> list[str]:
    """`docker run` flags for a compose service's hardening, limits and environment."""
    flags: list[str] = []
    if service.get("read_only"):
        flags.append("--read-only")
    for tmpfs in service.get("tmpfs", []):
        flags += ["--tmpfs", str(tmpfs)]
    for cap in service.get("cap_drop", []):
        flags += ["--cap-drop", str(cap)]
    for option in service.get("security_opt", []):
        flags += ["--security-opt", str(option)]
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    if "memory" in limits:
        flags += ["--memory", str(limits["memory"])]
    if "cpus" in limits:
        flags += ["--cpus", str(limits["cpus"])]
    if "pids" in limits:
        flags += ["--pids-limit", str(limits["pids"])]
    logging = service.get("logging", {})
    if logging.get("driver") and engine != "podman":  # podman's json-file takes other options
        flags += ["--log-driver", str(logging["driver"])]
        for key, value in logging.get("options", {}).items():
            flags += ["--log-opt", f"{key}={value}"]
    for key, value in service.get("environment", {}).items():
        flags += ["--env", f"{key}={interpolate(value)}"]
    health = service.get("healthcheck", {}).get("test", [])
    if health[:1] == ["CMD"]:
        flags += ["--health-cmd", shlex.join(health[1:])]
    return flags


def health_argv(service: dict[str, Any]) -> list[str]:
    test: list[str] = service["healthcheck"]["test"]
    assert test[0] == "CMD", test
    return test[1:]


def env_file(token: str, directory: Path) -> Path:
    """.env.example as an operator copies it, with the one value they must add: a token."""
    lines = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.startswith("BRIDGE_AUTH_TOKENS="):
            line = f"BRIDGE_AUTH_TOKENS={token}"
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    path = directory / "env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- checks over HTTP ------------------------------------------------------------------------------


def wait_until(what: str, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.5)
    raise CheckFailed(f"{what}: not within {timeout:.0f} s")


def status(url: str, headers: dict[str, str] | None = None, method: str = "GET", body: Any = None) -> int:
    try:
        response = httpx2.request(method, url, headers=headers, json=body, timeout=30)
    except httpx2.HTTPError:
        return 0
    return response.status_code


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "image-test", "version": "1"}}}


def tool_text(result: Any) -> str:
    if getattr(result, "is_error", False):
        raise CheckFailed(f"{TOOL} answered an error: {str(result.content)[:500]}")
    return " ".join(str(getattr(part, "text", part)) for part in result.content)


async def call_over_both(base: str, token: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=120.0)) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client):
        streamable = tool_text(await client.call_tool(TOOL, {"issue_key": ISSUE_KEY}))
    async with Client(sse_client(f"{base}/sse", headers=headers)) as client:
        sse = tool_text(await client.call_tool(TOOL, {"issue_key": ISSUE_KEY}))
    return streamable, sse


async def stop_with_a_session_open(base: str, token: str, stop: Callable[[], float]) -> float:
    """Open a Streamable HTTP session, stop the container while it is open, return the seconds
    `stop` took. The client's own teardown against a stopped server may fail: not the check."""
    headers = {"Authorization": f"Bearer {token}"}
    took = -1.0
    try:
        with anyio.fail_after(STOP_GRACE + 30):
            async with (httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(10.0, read=120.0)) as http,
                        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client):
                await client.list_tools()
                took = await anyio.to_thread.run_sync(stop)
    except Exception:  # the session's end as the server goes away
        if took < 0:
            raise
    return took


# --- the run -----------------------------------------------------------------------------------------


@contextmanager
def containers(engine: Engine, token: str, workdir: Path) -> Iterator[str]:
    """The sandbox and the bridge running; yields the bridge's published base URL."""
    bridge, sandbox = compose_service("bridge"), compose_service("sandbox")
    hardened = ["--label", engine.label, "--network", engine.network]
    try:
        engine.run("network", "create", "--label", engine.label, engine.network)
        engine.run("run", "--detach", "--name", engine.sandbox, "--network-alias", "sandbox", *hardened,
                   *run_flags(sandbox, engine.name), TAG, *sandbox["command"])
        engine.run("run", "--detach", "--name", engine.bridge, *hardened, *run_flags(bridge, engine.name),
                   "--env-file", str(env_file(token, workdir)), "--publish", "127.0.0.1::8000", TAG)
        published = engine.run("port", engine.bridge, "8000/tcp").stdout.split()
        addresses = [a for a in published if a.startswith("127.0.0.1:")]
        check(len(addresses) >= 1, "the bridge's port is published on loopback only",
              f"{engine.name} port says {published}")
        check(all(a.startswith("127.0.0.1:") for a in published), "no other address publishes it", str(published))
        yield f"http://{addresses[0]}"
    except BaseException:
        for container in (engine.bridge, engine.sandbox):
            logs = engine.run("logs", "--tail", "40", container, check=False)
            print(f"--- {container} (last 40 lines)\n{logs.stdout}{logs.stderr}", file=sys.stderr)
        raise
    finally:
        engine.clean()


def image_checks(engine: Engine) -> None:
    config = json.loads(engine.inspect(TAG, "{{json .Config}}", kind="image"))
    check(config.get("Entrypoint") == ["tini", "--"], "the image's ENTRYPOINT is tini", str(config.get("Entrypoint")))
    check(str(config.get("User", "")).split(":")[0] not in ("", "0", "root"), "the image's USER is not root",
          str(config.get("User")))
    labels = config.get("Labels") or {}
    wanted = ["title", "description", "source", "version", "licenses"]
    missing = [k for k in wanted if f"org.opencontainers.image.{k}" not in labels]
    check(not missing, "the OCI labels are set", f"missing {missing}")


PARENT_OF_BRIDGE = """
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if b"run" in argv and any(arg.endswith(b"/bridge") for arg in argv[:2]):
        print(stat[1])
"""
"""Prints the parent PID of each `bridge run` process in the container (helpers it forks too)."""


def container_checks(engine: Engine, base: str, token: str) -> None:
    sandbox_health = health_argv(compose_service("sandbox"))
    wait_until("the sandbox answers its health check",
               lambda: engine.run("exec", engine.sandbox, *sandbox_health, check=False).returncode == 0, 60)
    wait_until("the bridge answers /healthz", lambda: status(f"{base}/healthz") == 200, 60)
    check(True, "/healthz answers 200")
    check(status(f"{base}/readyz") == 200, "/readyz answers 200 (a child starts and answers initialize)")
    refused = status(f"{base}/mcp", {"Accept": "application/json, text/event-stream"}, "POST", INITIALIZE)
    check(refused == 401, "a request without the token gets 401", f"got {refused}")
    streamable, sse = anyio.run(call_over_both, base, token)
    check(ISSUE_KEY in streamable, f"{TOOL} over Streamable HTTP", streamable[:300])
    check(ISSUE_KEY in sse, f"{TOOL} over legacy SSE", sse[:300])

    ids = engine.exec_python(engine.bridge, "import os; print(os.getuid(), os.getgid())")
    uid, _, gid = ids.stdout.strip().partition(" ")
    check(ids.returncode == 0 and uid not in ("", "0") and gid != "0", "the bridge runs as non-root", ids.stdout)
    check(engine.inspect(engine.bridge, "{{.HostConfig.ReadonlyRootfs}}") == "true", "the root filesystem is read-only")
    write = engine.exec_python(engine.bridge, "open('/home/mcp/probe', 'w')")
    check(write.returncode != 0 and "Read-only file system" in write.stderr, "writing to the root filesystem fails",
          write.stderr[-300:])
    tmp = engine.exec_python(engine.bridge, "open('/tmp/probe', 'w').write('x')")
    check(tmp.returncode == 0, "/tmp is writable", tmp.stderr[-300:])
    comm = engine.run("exec", engine.bridge, "cat", "/proc/1/comm").stdout.strip()
    check(comm == "tini", "tini is PID 1 (and no second init)", f"PID 1 is {comm!r}")
    parent = engine.exec_python(engine.bridge, PARENT_OF_BRIDGE)
    check("1" in parent.stdout.split(), "the bridge is tini's child", parent.stdout + parent.stderr[-300:])
    wheels = engine.exec_python(engine.bridge, "import os; print(os.path.exists('/wheels'))")
    check(wheels.stdout.strip() == "False", "no build artefact (/wheels) is in the image")

    def stop() -> float:
        started = time.monotonic()
        engine.run("stop", "-t", str(STOP_GRACE), engine.bridge, timeout=STOP_GRACE + 30)
        return time.monotonic() - started

    took = anyio.run(stop_with_a_session_open, base, token, stop)
    code = engine.inspect(engine.bridge, "{{.State.ExitCode}}")
    check(code == "0", f"`{engine.name} stop` drains and the bridge exits 0 ({took:.1f} s)", f"exit code {code}")
    check(took < STOP_GRACE - 5, "the drain ends well before the grace period's SIGKILL", f"{took:.1f} s")


def main() -> int:
    name = find_engine()
    if name is None:
        return 2
    engine = Engine(name, f"mcp-image-test-{secrets.token_hex(4)}")
    token = secrets.token_urlsafe(32)
    say(f"image-test: building {TAG} with {name}")
    build = subprocess.run([name, "build", "--target", "runtime", "--tag", TAG, str(ROOT)],
                           env={**os.environ, "DOCKER_BUILDKIT": "1"}, check=False)
    if build.returncode != 0:
        print(f"image-test: FAIL `{name} build` exited {build.returncode}", file=sys.stderr)
        return 1
    failed = ""
    try:
        image_checks(engine)
        with tempfile.TemporaryDirectory(prefix="image-test-") as workdir, \
                containers(engine, token, Path(workdir)) as base:
            container_checks(engine, base, token)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        failed = str(exc)
    left = engine.leftovers()
    if left:
        engine.clean()
        failed = failed or f"containers or networks left behind: {left}"
    else:
        say("ok    no container or network of the run is left")
    if failed:
        print(f"image-test: FAIL {failed}", file=sys.stderr)
        return 1
    say(f"image-test: all checks passed ({TAG} kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
