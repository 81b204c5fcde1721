"""The `atlassian-sandbox` command: its ready line, bad options, a busy port, and a clean stop."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from atlassian_sandbox.seed import ALICE, server_env
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


def test_public_url_names_the_site_in_server_info_and_seeded_links(tmp_path: Path) -> None:
    port = free_port()
    public = "http://sandbox.example:8080"
    argv = [script("atlassian-sandbox"), "--port", str(port), "--public-url", public]
    with start_server(argv, f"http://127.0.0.1:{port}/__sandbox/health", tmp_path / "log"):
        auth = httpx.BasicAuth(ALICE.email, ALICE.api_token)
        info = httpx.get(f"http://127.0.0.1:{port}/rest/api/2/serverInfo", auth=auth, timeout=5).json()
        links = httpx.get(f"http://127.0.0.1:{port}/rest/api/2/issue/DEMO-2/remotelink", auth=auth, timeout=5).json()
    assert info["baseUrl"] == public
    assert any(link["object"]["url"].startswith(f"{public}/wiki/pages/") for link in links)


def test_server_env_matches_each_mode() -> None:
    cloud = server_env("http://h:1/", "cloud", ALICE)
    dc = server_env("http://h:1", "dc", ALICE)
    assert cloud["CONFLUENCE_URL"] == "http://h:1/wiki" and cloud["JIRA_USERNAME"] == ALICE.email
    assert dc["CONFLUENCE_URL"] == "http://h:1/confluence" and dc["JIRA_PERSONAL_TOKEN"] == ALICE.personal_token
    assert "JIRA_API_TOKEN" not in dc
