"""The command line: options from flags and `BRIDGE_*` variables, start-up validation, and the
`mcp-jira-confluence-sse` preset of the original migration guide."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.sse import sse_client

from atlassian_sandbox.seed import ALICE
from tests.conftest import SandboxServer
from tests.support.procs import free_port, script, start_server, wait_no_descendants

pytestmark = pytest.mark.anyio


def bridge_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([script("bridge"), "run", *args], capture_output=True, text=True, timeout=30,
                          env=env)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--port", "70000", "--", "true"), "--port"),
        (("--sse-path", "no-slash", "--", "true"), "--sse-path"),
        (("--base-url", "ftp://x", "--", "true"), "--base-url"),
        (("--env", "NOEQUALS", "--", "true"), "--env"),
        (("--cwd", "/nonexistent/dir", "--", "true"), "--cwd"),
        (("--header-env-missing", "maybe", "--", "true"), "--header-env-missing"),
        ((), "command"),
    ],
)
def test_bad_options_are_named(args: tuple[str, ...], named: str) -> None:
    done = bridge_run(*args)
    assert done.returncode == 2
    assert named in done.stderr


def test_environment_variables_are_read_and_validated() -> None:
    env = {**os.environ, "BRIDGE_MAX_SESSIONS": "0"}
    done = bridge_run("--", "true", env=env)
    assert done.returncode == 2 and "--max-sessions" in done.stderr
    env = {**os.environ, "BRIDGE_TRUSTED_PROXIES": "10.0.0.1,not-an-address"}
    done = bridge_run("--", "true", env=env)
    assert done.returncode == 2 and "'not-an-address' is not an IP address" in done.stderr


async def test_preset_serves_the_jira_confluence_server(sandbox_cloud: SandboxServer, tmp_path: Path) -> None:
    port = free_port()
    argv = [script("mcp-jira-confluence-sse"), "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    env = sandbox_cloud.env(ALICE)
    with start_server(argv, f"http://127.0.0.1:{port}/healthz", tmp_path / "preset.log", env=env) as started:
        async with Client(sse_client(f"http://127.0.0.1:{port}/sse")) as client:
            tools = await client.list_tools()
            assert "get-jira-issue" in {tool.name for tool in tools.tools}
            result = await client.call_tool("get-jira-current-user", {})
            assert not result.is_error
        assert not wait_no_descendants(started.pid, timeout=15)
