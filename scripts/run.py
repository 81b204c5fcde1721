"""`make run`: the bridge on http://127.0.0.1:8000 serving the stdio server `mcp-jira-confluence`.

With no Atlassian credentials in the environment (no JIRA_URL and no CONFLUENCE_URL), it also
starts the bundled Atlassian sandbox on a free loopback port, points the server at it as the demo
user, and says so. It prints both URLs and a client config for each transport, then runs until
Ctrl-C (or SIGTERM), which drains the bridge and ends everything it started.

Environment: PORT (default 8000), HOST (default 127.0.0.1), SANDBOX_MODE (cloud or dc).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

BIN = Path(sys.executable).parent


def command(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    sys.exit(f"{what} did not answer {url} within {timeout:.0f}s")


def start_sandbox(mode: str) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """The sandbox on a free port, and the environment that signs the server in as the demo user."""
    from atlassian_sandbox.seed import ALICE, server_env  # the seeded demo user and its sign-in

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [command("atlassian-sandbox"), "--host", "127.0.0.1", "--port", str(port), "--mode", mode]
    )
    wait_ready(f"{base}/__sandbox/health", proc, "atlassian-sandbox")
    env = server_env(base, mode, ALICE)
    print(f"No Atlassian credentials set: using the bundled sandbox ({mode}) at {base} as {ALICE.email}.")
    return proc, env


def print_client_configs(base: str) -> None:
    sse = {"mcpServers": {"jira-confluence": {"type": "sse", "url": f"{base}/sse"}}}
    streamable = {"mcpServers": {"jira-confluence": {"type": "http", "url": f"{base}/mcp"}}}
    print()
    print(f"  Streamable HTTP: {base}/mcp")
    print(f"  Legacy SSE:      {base}/sse")
    print()
    print("Client config, Streamable HTTP:")
    print(json.dumps(streamable, indent=2))
    print("Client config, legacy SSE:")
    print(json.dumps(sse, indent=2))
    print()
    print("Ctrl-C stops the bridge (it drains sessions first) and everything it started.")


def stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    env = dict(os.environ)
    sandbox: subprocess.Popen[bytes] | None = None
    if not (env.get("JIRA_URL") or env.get("CONFLUENCE_URL")):
        sandbox, sandbox_env = start_sandbox(os.environ.get("SANDBOX_MODE", "cloud"))
        env.update(sandbox_env)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    bridge = subprocess.Popen(
        [command("bridge"), "run", "--host", host, "--port", str(port), "--fork-server",
         "--fork-preload", "legacy_stdio.prefork:warm", "--", command("mcp-jira-confluence")],
        env=env,
    )
    try:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        wait_ready(f"http://{shown}:{port}/healthz", bridge, "bridge")
        print_client_configs(f"http://{shown}:{port}")
        return bridge.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(bridge)
        if sandbox is not None:
            stop(sandbox)


if __name__ == "__main__":
    sys.exit(main())
