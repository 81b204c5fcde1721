"""The `atlassian-sandbox` command: its ready line, bad options, a busy port, and a clean stop."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.support.procs import end_group, free_port, script, start_server, wait_no_descendants


def test_prints_its_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    argv = [script("atlassian-sandbox"), "--host", "127.0.0.1", "--port", str(port), "--mode", "dc"]
    with start_server(argv, f"http://127.0.0.1:{port}/__sandbox/health", tmp_path / "log") as started:
        assert httpx.get(f"http://127.0.0.1:{port}/__sandbox/health", timeout=5).json()["mode"] == "dc"
        assert f"atlassian-sandbox (dc) listening on http://127.0.0.1:{port}" in started.log()
        end_group(started.proc)
        assert started.proc.poll() is not None
        assert wait_no_descendants(started.pid) == []


def test_a_bad_mode_is_refused_with_a_clear_message() -> None:
    done = subprocess.run([script("atlassian-sandbox"), "--mode", "nowhere"], capture_output=True, timeout=30,
                          text=True, check=False)
    assert done.returncode == 2
    assert "nowhere" in done.stderr and "cloud" in done.stderr


def test_a_busy_port_makes_it_exit_with_an_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([script("atlassian-sandbox"), "--port", str(port)], capture_output=True,
                              timeout=30, text=True, check=False)
    assert done.returncode != 0
    assert "address already in use" in done.stderr.lower()
