"""The deployment files run what the tests run.

compose.yaml, the Dockerfile, deploy/kubernetes/*.yaml, deploy/nginx/bridge.conf and the docs must
agree with each other and with the bridge itself: the same command (`bridge run ... --
mcp-jira-confluence`) and port everywhere, probes on the paths the bridge serves without auth,
only `BRIDGE_*` variables and flags the bridge really has, console scripts that exist, a
non-root image with tini as PID 1. The last tests start the bridge with the compose and the
Kubernetes configuration and ask it what the orchestrators will ask.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bridge.config import Settings, option_fields
from bridge.security import PROBE_PATHS
from tests.support.procs import end_group, free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
NGINX_CONF = ROOT / "deploy" / "nginx" / "bridge.conf"
DOCS = (ROOT / "README.md", ROOT / "docs" / "migration.md", NGINX_CONF)
VENV_BIN = Path(sys.executable).parent

SERVER = "mcp-jira-confluence"
DEFAULTS = Settings()
SESSION_MIB = 75
"""Memory of one session's mcp-jira-confluence child, as measured (USS about 70 MiB)."""
BRIDGE_MIB = 100

pytestmark = pytest.mark.timeout(120)


# --- reading the files ------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return data


def compose_bridge() -> dict[str, Any]:
    service: dict[str, Any] = compose()["services"]["bridge"]
    return service


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def docker(name: str) -> list[str]:
    found = [args for instr, args in dockerfile() if instr == name]
    assert found, f"the Dockerfile's final stage has no {name}"
    return found


def docker_json(name: str) -> list[str]:
    value = json.loads(docker(name)[-1])
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{name} must be exec form"
    return value


def k8s_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def k8s(kind: str) -> dict[str, Any]:
    found = [d for d in k8s_documents() if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/kubernetes, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = k8s("Deployment")["spec"]["template"]["spec"]
    return spec


def bridge_container() -> dict[str, Any]:
    containers = pod_spec()["containers"]
    assert len(containers) == 1, "one container: the bridge (its children run inside it)"
    container: dict[str, Any] = containers[0]
    return container


def container_env() -> dict[str, Any]:
    """The Deployment's `env`, name -> value or valueFrom."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in bridge_container().get("env", [])}


def secret_data() -> dict[str, str]:
    data: dict[str, str] = k8s("Secret")["stringData"]
    return data


def named_port(port: int | str) -> int:
    """A container port given by number or by its name in the Deployment."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in bridge_container()["ports"]}
    assert port in by_name, f"port name {port!r} is not a containerPort name"
    return int(by_name[port])


def env_float(env: dict[str, Any], name: str, default: float) -> float:
    value = env.get(f"BRIDGE_{name.upper()}")
    return float(value) if isinstance(value, str) else default


def duration_seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(text).strip())
    assert match, f"not a duration: {text!r}"
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


def mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)?", quantity)
    assert match, f"not a memory quantity: {quantity!r}"
    return float(match.group(1)) * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, None: 1 / 2**20}[match.group(2)]


def nginx_directives() -> list[list[str]]:
    """Every directive of bridge.conf (comments dropped) as a list of words."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text(encoding="utf-8").splitlines())
    return [shlex.split(statement) for statement in re.split(r"[;{}]", text) if statement.strip()]


def nginx(name: str) -> list[list[str]]:
    return [d[1:] for d in nginx_directives() if d[0] == name]


def healthcheck_url(test: list[str]) -> str:
    urls = re.findall(r"https?://[^'\"\s)]+", " ".join(test))
    assert len(urls) == 1, f"a healthcheck should fetch exactly one URL: {test}"
    return str(urls[0])


# --- the commands -----------------------------------------------------------------------------


def commands() -> dict[str, list[str]]:
    """The bridge command as each deployment file runs it."""
    container = bridge_container()
    return {
        "compose.yaml": compose_bridge()["command"],
        "Dockerfile CMD": docker_json("CMD"),
        "deployment.yaml args": container["args"],
    }


def options_of(argv: list[str]) -> dict[str, str]:
    """`--flag value` pairs of a `bridge run ... -- child` argv (value "" for a bare flag)."""
    assert argv[:2] == ["bridge", "run"], f"not a `bridge run` command: {argv}"
    assert "--" in argv, f"the child command must follow `--`: {argv}"
    before = argv[2 : argv.index("--")]
    options: dict[str, str] = {}
    i = 0
    while i < len(before):
        assert before[i].startswith("--"), f"unexpected argument {before[i]!r} in {argv}"
        flag, eq, value = before[i].partition("=")
        if eq:
            options[flag] = value
        elif i + 1 < len(before) and not before[i + 1].startswith("--"):
            options[flag] = before[i + 1]
            i += 1
        else:
            options[flag] = ""
        i += 1
    return options


@pytest.mark.parametrize("where", ["compose.yaml", "Dockerfile CMD", "deployment.yaml args"])
def test_the_command_is_bridge_run_around_mcp_jira_confluence(where: str) -> None:
    argv = commands()[where]
    assert argv[argv.index("--") + 1 :] == [SERVER]
    options = options_of(argv)
    assert options.get("--host") == "0.0.0.0", "in a container the bridge must listen beyond loopback"
    assert options.get("--port", "").isdigit()


def test_kubernetes_keeps_tini_as_pid_1() -> None:
    assert "command" not in bridge_container(), "`command` would replace the image's tini ENTRYPOINT"
    assert docker_json("ENTRYPOINT")[0] == "tini"
    assert "entrypoint" not in compose_bridge(), "compose must keep the image's ENTRYPOINT as well"


def test_one_port_everywhere() -> None:
    ports: dict[str, int] = {}
    for where, argv in commands().items():
        ports[where] = int(options_of(argv)["--port"])
    ports["Dockerfile EXPOSE"] = int(docker("EXPOSE")[-1].split("/")[0])
    ports["Dockerfile HEALTHCHECK"] = httpx.URL(healthcheck_url(docker("HEALTHCHECK")[-1].split())).port or 80
    bridge = compose_bridge()
    published = [str(p).rsplit(":", 1)[-1] for p in bridge["ports"]]
    assert len(published) == 1
    ports["compose ports (container side)"] = int(published[0])
    ports["compose healthcheck"] = httpx.URL(healthcheck_url(bridge["healthcheck"]["test"])).port or 80
    container = bridge_container()
    (container_port,) = container["ports"]
    ports["containerPort"] = int(container_port["containerPort"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        ports[probe] = named_port(container[probe]["httpGet"]["port"])
    template = k8s("Deployment")["spec"]["template"]
    ports["prometheus.io/port annotation"] = int(template["metadata"]["annotations"]["prometheus.io/port"])
    (service_port,) = k8s("Service")["spec"]["ports"]
    ports["Service port"] = int(service_port["port"])
    ports["Service targetPort"] = named_port(service_port["targetPort"])
    backend = k8s("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == k8s("Service")["metadata"]["name"]
    assert backend["port"].get("name") == service_port["name"] or backend["port"].get("number") == service_port["port"]
    (upstream,) = [args for args in nginx("server") if args and ":" in args[0]]
    ports["nginx upstream"] = int(upstream[0].rsplit(":", 1)[1])
    assert len(set(ports.values())) == 1, f"ports disagree: {ports}"


# --- probes -----------------------------------------------------------------------------------


def test_health_checks_hit_healthz_and_readiness_hits_readyz() -> None:
    paths = {
        "Dockerfile HEALTHCHECK": httpx.URL(healthcheck_url(docker("HEALTHCHECK")[-1].split())).path,
        "compose healthcheck": httpx.URL(healthcheck_url(compose_bridge()["healthcheck"]["test"])).path,
    }
    container = bridge_container()
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        paths[probe] = container[probe]["httpGet"]["path"]
    assert paths.pop("readinessProbe") == "/readyz"
    assert set(paths.values()) == {"/healthz"}, paths
    assert {"/healthz", "/readyz", "/metrics"} <= PROBE_PATHS, "probes and scrapes must need no auth"


def test_probe_and_grace_timings_fit_the_bridge() -> None:
    env = container_env()
    shutdown = env_float(env, "shutdown_grace", DEFAULTS.shutdown_grace)
    kill = env_float(env, "kill_grace", DEFAULTS.kill_grace)
    ready = env_float(env, "ready_timeout", DEFAULTS.ready_timeout)
    readiness = bridge_container()["readinessProbe"]
    assert readiness["timeoutSeconds"] > ready + 2 * kill, "the kubelet must not give up before /readyz answers"
    pre_stop = bridge_container().get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_seconds = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
    needed = pre_stop_seconds + shutdown + 2 * kill
    assert pod_spec()["terminationGracePeriodSeconds"] > needed, "SIGKILL would cut the drain short"
    compose_env = compose_bridge().get("environment", {})
    compose_needed = env_float(compose_env, "shutdown_grace", DEFAULTS.shutdown_grace) + 2 * env_float(
        compose_env, "kill_grace", DEFAULTS.kill_grace)
    assert duration_seconds(compose_bridge()["stop_grace_period"]) > compose_needed
    assert compose_bridge()["stop_signal"] == "SIGTERM"


# --- options and flags ------------------------------------------------------------------------


def bridge_variables() -> set[str]:
    return {"BRIDGE_" + f.name.upper() for f in option_fields()}


NAMED_OPTIONS = {  # the names the deployment files and docs rely on
    "BRIDGE_AUTH_TOKENS", "BRIDGE_AUTH_TOKEN_FILE", "BRIDGE_AUTH_DISABLED", "BRIDGE_ALLOWED_HOSTS",
    "BRIDGE_ALLOWED_ORIGINS", "BRIDGE_TRUSTED_PROXIES", "BRIDGE_CORS_ORIGINS", "BRIDGE_HEADER_ENV",
    "BRIDGE_HEADER_ENV_MISSING", "BRIDGE_PRESPAWN", "BRIDGE_HOST", "BRIDGE_PORT", "BRIDGE_BASE_URL",
    "BRIDGE_MAX_SESSIONS", "BRIDGE_IDLE_TIMEOUT", "BRIDGE_LOG_FORMAT", "BRIDGE_SHUTDOWN_GRACE",
    "BRIDGE_KILL_GRACE", "BRIDGE_READY_TIMEOUT",
}


def test_the_named_options_exist() -> None:
    assert sorted(NAMED_OPTIONS - bridge_variables()) == []


FILES_WITH_VARIABLES = [
    ROOT / "compose.yaml", ROOT / ".env.example", ROOT / "Dockerfile", *sorted(K8S.glob("*.yaml")), *DOCS,
]


@pytest.mark.parametrize("path", FILES_WITH_VARIABLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bridge_variable_named_is_a_real_option(path: Path) -> None:
    named = set(re.findall(r"\bBRIDGE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    assert sorted(named - bridge_variables()) == []


def test_the_structured_variables_are_read_as_well() -> None:
    """Not only text: the variables the files actually set, parsed."""
    set_here = set(compose_bridge().get("environment", {}))
    set_here |= {line.split("=", 1)[0].lstrip("# ").strip() for line in
                 (ROOT / ".env.example").read_text(encoding="utf-8").splitlines() if "=" in line}
    set_here |= {k for args in docker("ENV") for k in re.findall(r"(\w+)=", args)}
    set_here |= set(container_env()) | set(secret_data())
    bridge_set = {name for name in set_here if name.startswith("BRIDGE_")}
    assert {"BRIDGE_LOG_FORMAT", "BRIDGE_AUTH_TOKENS", "BRIDGE_ALLOWED_HOSTS"} <= bridge_set
    assert sorted(bridge_set - bridge_variables()) == []


def help_flags(script: str, *args: str) -> set[str]:
    env = {**os.environ, "COLUMNS": "250", "TERM": "dumb", "NO_COLOR": "1"}
    out = subprocess.run([str(VENV_BIN / script), *args, "--help"], capture_output=True, text=True,
                         env=env, timeout=60, check=True).stdout
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", out))


def command_lines(text: str, program: str) -> list[str]:
    """Each `program ...` command in `text`, continuation lines joined, comment markers dropped."""
    lines = [re.sub(r"^\s*#\s?", "", line) for line in text.splitlines()]
    joined: list[str] = []
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    pattern = re.compile(rf"(?<![\w-]){re.escape(program)}(?![\w-])")
    return [line[match.start():] for line in joined if (match := pattern.search(line))]


def documented_flags(program: str) -> dict[str, set[str]]:
    """Flags given to `program` in the docs, per file (the part before a child's `--`)."""
    found: dict[str, set[str]] = {}
    for path in DOCS:
        for line in command_lines(path.read_text(encoding="utf-8"), program):
            own = line.split(" -- ", 1)[0]
            found.setdefault(path.name, set()).update(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", own))
    return found


def test_every_bridge_run_flag_used_is_in_bridge_run_help() -> None:
    known = help_flags("bridge", "run")
    assert {"--host", "--port", "--auth-token", "--trusted-proxy", "--header-env"} <= known
    used = {where: {a.split("=", 1)[0] for a in argv if a.startswith("--") and a != "--"}
            for where, argv in commands().items()}
    used.update(documented_flags("bridge run"))
    assert "bridge.conf" in used and "--trusted-proxy" in used["bridge.conf"]
    assert "migration.md" in used
    unknown = {where: sorted(flags - known) for where, flags in used.items() if flags - known}
    assert unknown == {}


def test_every_preset_flag_used_is_in_its_help() -> None:
    known = help_flags("mcp-jira-confluence-sse")
    used = documented_flags("mcp-jira-confluence-sse")
    assert used.get("migration.md", set()) >= {"--host", "--port", "--log-level"}
    unknown = {where: sorted(flags - known) for where, flags in used.items() if flags - known}
    assert unknown == {}


def test_console_scripts_named_exist() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = set(pyproject["project"]["scripts"])
    programs = {argv[0] for argv in commands().values()} | {SERVER}
    programs |= {service["command"][0] for service in compose()["services"].values()}
    assert {"bridge", SERVER, "atlassian-sandbox"} <= programs, "the sandbox profile runs atlassian-sandbox"
    assert sorted(programs - scripts) == []
    assert "mcp-jira-confluence-sse" in scripts
    for name in programs:
        assert (VENV_BIN / name).exists(), f"{name} is not installed in the test environment"


# --- image and pod hardening ------------------------------------------------------------------


def test_the_image_runs_as_non_root_under_tini_and_stops_on_sigterm() -> None:
    user = docker("USER")[-1].split(":")[0].strip()
    assert user not in ("root", "0", "")
    assert docker_json("ENTRYPOINT") == ["tini", "--"]
    assert any("tini" in args.split() for args in docker("RUN")), "tini must be installed in the final stage"
    assert docker("STOPSIGNAL")[-1].strip() == "SIGTERM"
    assert "BRIDGE_LOG_FORMAT=json" in " ".join(docker("ENV"))


def test_compose_runs_the_image_locked_down() -> None:
    bridge = compose_bridge()
    assert bridge["init"] is True
    assert bridge["read_only"] is True and "/tmp" in bridge["tmpfs"]
    images = {service.get("image") for service in compose()["services"].values()}
    assert len(images) == 1, "the sandbox profile runs the same image"


def test_the_pod_runs_non_root_read_only_with_a_writable_tmp() -> None:
    pod = pod_spec()
    container = bridge_container()
    assert container["image"] == compose_bridge()["image"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser", 1) != 0
    hardening = container["securityContext"]
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"]["drop"] == ["ALL"]
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert len(tmp) == 1
    (volume,) = [v for v in pod["volumes"] if v["name"] == tmp[0]["name"]]
    assert "emptyDir" in volume


def test_the_pod_has_requests_and_room_for_its_sessions() -> None:
    resources = bridge_container()["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    limit = mebibytes(resources["limits"]["memory"])
    sessions = env_float(container_env(), "max_sessions", DEFAULTS.max_sessions)
    assert sessions * SESSION_MIB + BRIDGE_MIB <= limit, "at BRIDGE_MAX_SESSIONS the pod would be OOM-killed"


def test_credentials_and_tokens_come_from_the_secret() -> None:
    secret = k8s("Secret")
    refs = [e["secretRef"]["name"] for e in bridge_container().get("envFrom", []) if "secretRef" in e]
    assert refs == [secret["metadata"]["name"]]
    keys = set(secret_data())
    assert {"BRIDGE_AUTH_TOKENS", "JIRA_URL", "JIRA_API_TOKEN", "CONFLUENCE_URL", "CONFLUENCE_API_TOKEN"} <= keys
    for key in keys:  # nothing secret set in plain text in the Deployment as well
        assert key not in container_env(), f"{key} is both in the Secret and in the Deployment's env"


def test_the_service_selects_the_pods_and_keeps_clients_on_one_pod() -> None:
    service = k8s("Service")["spec"]
    labels = k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert k8s("Deployment")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["sessionAffinity"] == "ClientIP"
    timeout = service["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"]
    assert timeout > env_float(container_env(), "idle_timeout", DEFAULTS.idle_timeout)
    annotations = k8s("Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert "nginx.ingress.kubernetes.io/upstream-hash-by" in annotations


# --- nginx --------------------------------------------------------------------------------------


def test_nginx_passes_streams_through_unbuffered() -> None:
    assert nginx("proxy_buffering") == [["off"]]
    assert nginx("proxy_cache") == [["off"]]
    assert nginx("proxy_http_version") == [["1.1"]]
    assert nginx("chunked_transfer_encoding") == [["on"]]
    headers = {args[0].lower(): args[1] for args in nginx("proxy_set_header")}
    assert headers["connection"] == ""
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["x-forwarded-host"].startswith("$")
    assert headers["mcp-session-id"] == "$http_mcp_session_id"
    hidden = {args[0].lower() for args in nginx("proxy_hide_header")}
    assert "mcp-session-id" not in hidden


def test_nginx_timeouts_and_body_size_match_the_bridge() -> None:
    (read_timeout,) = nginx("proxy_read_timeout")
    seconds = duration_seconds(read_timeout[0])
    assert seconds >= 4 * DEFAULTS.keepalive, "well above the keep-alive interval"
    assert seconds > DEFAULTS.request_timeout, "a JSON-mode answer may take the whole request timeout"
    (body,) = nginx("client_max_body_size")
    size = body[0].lower()
    factor = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(size[-1], 1)
    assert int(size.rstrip("kmg")) * factor == DEFAULTS.max_body_size


# --- the bridge, started as the deployments start it ------------------------------------------


ASSIGNMENT = re.compile(r"^\s*([A-Z_][A-Z0-9_]*)=(.*)$")


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that configures the bridge or the server."""
    drop = ("BRIDGE_", "JIRA_", "CONFLUENCE_", "ATLASSIAN_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def no_atlassian(env: dict[str, str]) -> dict[str, str]:
    """Point the server at a closed loopback port: probes must not depend on Atlassian."""
    for key in ("JIRA_URL", "CONFLUENCE_URL"):
        if key in env:
            env[key] = "http://127.0.0.1:9"
    return env


def with_port(argv: list[str], port: int) -> list[str]:
    argv = list(argv)
    argv[argv.index("--port") + 1] = str(port)
    return argv


def on_loopback(argv: list[str]) -> list[str]:
    """The container's argv, bound to loopback instead of 0.0.0.0 (this is no container)."""
    argv = list(argv)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    return argv


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(url + "/healthz", proc, timeout=30)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{log.read_text(errors='replace')}") from None
        yield url
    finally:
        code = end_group(proc, grace=20)
    assert code == 0, f"the bridge exited with {code} on SIGTERM:\n{log.read_text(errors='replace')}"


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "deploy-test", "version": "1"}}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def check_probes(url: str) -> None:
    with httpx.Client(timeout=30) as client:
        assert client.get(url + "/healthz").status_code == 200
        assert client.get(url + "/health").status_code == 200
        ready = client.get(url + "/readyz")
        assert ready.status_code == 200, ready.text
        metrics = client.get(url + "/metrics")
        assert metrics.status_code == 200 and "bridge_sessions_active" in metrics.text


def test_compose_configuration_serves_probes_and_requires_the_token(tmp_path: Path) -> None:
    port = free_port()
    env = clean_environment()
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            env[match.group(1)] = match.group(2)
    env.update({k: str(v) for k, v in compose_bridge().get("environment", {}).items()})
    argv = on_loopback(with_port(compose_bridge()["command"], port))
    with running(argv, no_atlassian(env), port, tmp_path / "compose.log") as url:
        check_probes(url)
        healthcheck = [part.replace(":8000/", f":{port}/") for part in compose_bridge()["healthcheck"]["test"][1:]]
        assert healthcheck[0] == "python"
        done = subprocess.run([sys.executable, *healthcheck[1:]], env=env, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
        with httpx.Client(timeout=30) as client:
            refused = client.post(url + "/mcp", json=INITIALIZE, headers=ACCEPT)
            assert refused.status_code == 401 and "bearer" in refused.headers["www-authenticate"].lower()
            token = env["BRIDGE_AUTH_TOKENS"].split(",")[0]
            ok = client.post(url + "/mcp", json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {token}",
                                                                     "Host": f"bridge:{port}"})
            assert ok.status_code == 200, ok.text
            assert ok.headers.get("mcp-session-id")


def kubernetes_environment() -> dict[str, str]:
    """The pod's environment: the Secret (envFrom), then `env` with $(VAR) references expanded."""
    env = clean_environment()
    env.update(secret_data())
    for entry in bridge_container().get("env", []):
        if "value" in entry:
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), entry["value"])
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[entry["name"]] = "mcp"
    return env


def test_kubernetes_configuration_serves_probes_hosts_and_auth(tmp_path: Path) -> None:
    port = free_port()
    env = kubernetes_environment()
    argv = on_loopback(with_port(bridge_container()["args"], port))
    token = secret_data()["BRIDGE_AUTH_TOKENS"].split(",")[0]
    with running(argv, no_atlassian(env), port, tmp_path / "kubernetes.log") as url:
        check_probes(url)
        with httpx.Client(timeout=30) as client:
            refused = client.post(url + "/mcp", json=INITIALIZE, headers=ACCEPT)
            assert refused.status_code == 401
            authorized = {**ACCEPT, "Authorization": f"Bearer {token}"}
            for host in (f"mcp-jira-confluence.mcp.svc:{port}", f"mcp-jira-confluence.mcp.svc.cluster.local:{port}",
                         "mcp.example.com"):
                ok = client.post(url + "/mcp", json=INITIALIZE, headers={**authorized, "Host": host})
                assert ok.status_code == 200, (host, ok.text)
                session = ok.headers["mcp-session-id"]
                gone = client.delete(url + "/mcp", headers={**authorized, "Host": host, "Mcp-Session-Id": session})
                assert gone.status_code in (200, 202, 204)
            stranger = client.post(url + "/mcp", json=INITIALIZE, headers={**authorized, "Host": "evil.example"})
            assert stranger.status_code == 421


def test_the_preset_takes_its_other_settings_from_the_environment(tmp_path: Path) -> None:
    """The first migration guide's `mcp-jira-confluence-sse --host 0.0.0.0 ...` needs a token: as
    docs/migration.md shows, the preset reads `BRIDGE_AUTH_TOKENS` (and every other option) too."""
    port = free_port()
    env = {**clean_environment(), "BRIDGE_AUTH_TOKENS": "preset-token", "BRIDGE_ALLOWED_HOSTS": "mcp.example.com"}
    argv = [str(VENV_BIN / "mcp-jira-confluence-sse"), "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "info"]
    with running(argv, env, port, tmp_path / "preset.log") as url, httpx.Client(timeout=30) as client:
        refused = client.post(url + "/mcp", json=INITIALIZE, headers=ACCEPT)
        assert refused.status_code == 401, "BRIDGE_AUTH_TOKENS was ignored: the preset served without auth"
        ok = client.post(url + "/mcp", json=INITIALIZE, headers={**ACCEPT, "Authorization": "Bearer preset-token",
                                                                 "Host": "mcp.example.com"})
        assert ok.status_code == 200, ok.text


# --- the migration guide's examples -------------------------------------------------------------


def code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", path.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_the_client_configs_in_the_docs_are_valid_json() -> None:
    blocks = code_blocks(ROOT / "docs" / "migration.md", "json")
    assert len(blocks) >= 7, "stdio and URL configs for Claude Desktop, Cursor and VS Code, and .mcp.json"
    for block in blocks:
        config = json.loads(block)
        servers = config.get("mcpServers") or config.get("servers")
        assert servers and all(("command" in s) != ("url" in s) for s in servers.values()), block


def test_the_python_sdk_example_runs_over_all_three_transports(tmp_path: Path) -> None:
    (snippet,) = code_blocks(ROOT / "docs" / "migration.md", "python")
    port = free_port()
    token = "docs-example-token"
    script = tmp_path / "example.py"
    script.write_text(snippet.replace("https://mcp.example.com", f"http://127.0.0.1:{port}")
                      .replace("https://your-site.atlassian.net", "http://127.0.0.1:9")
                      .replace("Bearer <token>", f"Bearer {token}"), encoding="utf-8")
    env = clean_environment()
    argv = ["bridge", "run", "--host", "127.0.0.1", "--port", str(port), "--auth-token", token,
            "--header-env", "X-Jira-Email=JIRA_USERNAME", "--header-env", "X-Jira-Token=JIRA_API_TOKEN",
            "--", SERVER]
    with running(argv, env, port, tmp_path / "bridge.log"):
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = re.findall(r"^(\d+) tools over (stdio|Streamable HTTP|SSE)$", done.stdout, flags=re.M)
    assert [where for _, where in counts] == ["stdio", "Streamable HTTP", "SSE"], done.stdout
    assert len({n for n, _ in counts}) == 1 and int(counts[0][0]) > 0, "the same tools on every transport"
