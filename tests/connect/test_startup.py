"""`bridge connect` starts without the server stack: a local client starts one per session, so
neither `--help` nor a session may load `bridge.app`, uvicorn, starlette or the security layer
(`bridge run` imports them when it starts serving). Read from the real process's `-X importtime`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.procs import Started, script

from .support import INITIALIZE, connect_argv

SERVER_STACK = frozenset({"bridge.app", "bridge.security", "bridge.transports", "bridge.session", "uvicorn",
                          "starlette", "prometheus_client", "uvloop"})
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def imported(argv: list[str], stdin: bytes = b"") -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    """Run the `bridge` script under `python -X importtime`; the process and every module it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], input=stdin, capture_output=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})
    modules = {line.rpartition("|")[2].strip() for line in done.stderr.decode(errors="replace").splitlines()
               if line.startswith("import time:")}
    assert "bridge.cli" in modules, done.stderr[-2000:]
    return done, modules


def _stack(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in SERVER_STACK or m.split(".")[0] in SERVER_STACK)


def test_help_imports_no_server_stack() -> None:
    done, modules = imported([script("bridge"), "connect", "--help"])
    assert done.returncode == 0 and b"Exit codes" in done.stdout
    assert _stack(modules) == []
    assert "httpx" not in modules, "--help needs no HTTP client either"


def test_a_session_imports_no_server_stack(echo_bridge: Started) -> None:
    lines = b"".join(json.dumps(m).encode() + b"\n" for m in (INITIALIZE, INITIALIZED))
    done, modules = imported(connect_argv(echo_bridge.url + "/mcp"), lines)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[0])["result"]["serverInfo"]["name"] == "echo"
    assert "bridge.connect.relay" in modules and "httpx" in modules
    assert _stack(modules) == []

