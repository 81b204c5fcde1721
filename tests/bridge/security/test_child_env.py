"""A child never inherits the bridge's own configuration: no `BRIDGE_*` variable, no `--private-env`
variable; ordinary variables and `--env` pairs still reach it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from bridge.config import ConfigError, Settings, validate
from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import answer, call, post, session, text_of
from tests.support.procs import script

TOKEN = "bridge-own-token-7f3a9c"


def environ_of(pid: int) -> dict[str, str]:
    """A live process's environment as it was exec'd (`/proc/<pid>/environ`)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode("utf-8", "surrogateescape").partition("=")[::2] for item in raw.split(b"\0") if item)


def test_a_child_gets_no_bridge_setting_and_no_private_variable(bridge: BridgeFactory) -> None:
    env = {
        "BRIDGE_AUTH_TOKENS": TOKEN,
        "BRIDGE_ALLOWED_HOSTS": "mcp.internal.example:*",
        "BRIDGE_PRIVATE_ENV": "AWS_*,VAULT_TOKEN",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "AWS_REGION": "eu-west-1",
        "VAULT_TOKEN": "vault-secret-value",
        "VAULT_ADDR": "https://vault.example",  # not private: only VAULT_TOKEN is named
        "ORDINARY_SETTING": "kept",
    }
    with (
        bridge("--env", "EXTRA_FROM_FLAG=added", "--env", "BRIDGE_FOR_CHILD=explicit", env=env) as b,
        httpx.Client(timeout=10, headers={"authorization": f"Bearer {TOKEN}"}) as client,
    ):
        url = b.url + "/mcp"
        assert client.post(url, json={}, headers={"authorization": "Bearer wrong"}).status_code == 401  # read them
        with session(client, url) as session_id:
            pid = json.loads(text_of(answer(post(client, url, session_id, call(1, "pid")))))["pid"]
            child_env = environ_of(pid)
    assert not [name for name in child_env if name.startswith("BRIDGE_") and name != "BRIDGE_FOR_CHILD"]
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_REGION", "VAULT_TOKEN"):
        assert name not in child_env, name
    assert child_env["ORDINARY_SETTING"] == "kept"
    assert child_env["VAULT_ADDR"] == "https://vault.example"
    assert child_env["EXTRA_FROM_FLAG"] == "added"
    assert child_env["BRIDGE_FOR_CHILD"] == "explicit"  # --env still adds, whatever the name
    secrets = (TOKEN, "aws-secret-value", "vault-secret-value")
    assert not any(secret in value for value in child_env.values() for secret in secrets)


def test_the_readiness_probe_child_is_started_the_same_way(bridge: BridgeFactory, tmp_path: Path) -> None:
    """`/readyz` starts a probe child from the same base environment: no setting there either."""
    dump = tmp_path / "env.json"
    child = ["python3", "-c",
             f"import json, os, sys; json.dump(dict(os.environ), open({str(dump)!r}, 'w')); "
             "sys.stdin.readline(); print(json.dumps({'jsonrpc': '2.0', 'id': 0, 'result': {}}), flush=True); "
             "sys.stdin.read()"]
    with bridge("--private-env", "SECRET_*", child=child,
                env={"BRIDGE_AUTH_TOKENS": TOKEN, "SECRET_ONE": "s1", "PLAIN": "p"}) as b:
        assert httpx.get(b.url + "/readyz", timeout=20).status_code == 200
    seen = json.loads(dump.read_text())
    assert "BRIDGE_AUTH_TOKENS" not in seen and "SECRET_ONE" not in seen and seen["PLAIN"] == "p"


def test_child_env_drops_settings_and_private_patterns() -> None:
    base = {"BRIDGE_PORT": "1", "BRIDGE_": "x", "AWS_KEY": "k", "aws_key": "lower", "HOME": "/root", "KEEP": "1"}
    settings = Settings(private_env=("AWS_*", "HOM?"), env=("NEW=v", "AWS_KEY=given"))
    assert settings.child_env(base) == {"aws_key": "lower", "KEEP": "1", "NEW": "v", "AWS_KEY": "given"}
    assert Settings(pass_env=False, env=("A=b",)).child_env(base) == {"A": "b"}
    assert Settings().child_env({"PATH": "/bin", "BRIDGE_AUTH_TOKENS": "t"}) == {"PATH": "/bin"}


@pytest.mark.parametrize("pattern", ["", "A B", "X=Y", "A;B"])
def test_a_bad_private_env_pattern_is_refused(pattern: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(Settings(private_env=(pattern,), command=("true",)))
    assert caught.value.option == "private_env"


def test_private_env_is_a_flag_and_a_variable() -> None:
    done = subprocess.run([script("bridge"), "run", "--help"], capture_output=True, text=True, timeout=30,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert "--private-env" in done.stdout and "BRIDGE_PRIVATE_ENV" in done.stdout
    bad = subprocess.run([script("bridge"), "run", "--", "true"], capture_output=True, text=True, timeout=30,
                         env={"BRIDGE_PRIVATE_ENV": "A=B", "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert bad.returncode == 2 and "--private-env" in bad.stderr
