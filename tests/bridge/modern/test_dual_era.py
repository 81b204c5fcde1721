"""A child that speaks 2026-07-28 itself is served in its own era: the bridge learns it once, from
its `server/discover` probe, then passes requests through with only its own id, progress token and
cursor work; a handshake-era child is translated as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bridge import run_bridge

from .conftest import ENV, IDLE
from .wire import SERVER_INFO_KEY, VERSION_KEY, answer, message, post, text_json

pytestmark = pytest.mark.timeout(60)

PAGED = [sys.executable, "-m", "tests.bridge.modern.paged_server"]
DUAL = {**ENV, "PAGED_DUAL_ERA": "1"}


def direct(request: dict[str, Any]) -> dict[str, Any]:
    """The dual-era server's own answer over its stdio, in the 2026-07-28 era (a process per request:
    it ends at EOF, maybe before a second answer)."""
    done = subprocess.run(PAGED, input=json.dumps(request) + "\n", capture_output=True, text=True, timeout=30,
                          check=False, env={**os.environ, **DUAL}, cwd=Path(__file__).resolve().parents[3])
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(answers) == 1, done.stdout + done.stderr
    return dict(answers[0])


def test_a_dual_era_child_gets_the_request_as_the_client_sent_it(tmp_path: Path) -> None:
    with run_bridge(PAGED, tmp_path / "bridge.log", IDLE, env=DUAL) as b, httpx.Client(timeout=20) as client:
        got = answer(post(client, b.url + "/mcp", message("m", "tools/call", {"name": "meta", "arguments": {}})))
        discovered = answer(post(client, b.url + "/mcp", message("d", "server/discover")))
        listed = answer(post(client, b.url + "/mcp", message("l", "tools/list")))
        cursor = listed["result"]["nextCursor"]
        second = answer(post(client, b.url + "/mcp", message("l2", "tools/list", {"cursor": cursor})))
        log = b.log_path.read_text()
    # The SDK's own 2026-07-28 path takes the envelope before a handler sees `_meta`; a handshake
    # connection would have refused the request outright (-32600).
    assert got["result"]["resultType"] == "complete" and "error" not in got
    assert "the child speaks 2026-07-28 itself" in log and "speaks the handshake era" not in log
    assert discovered["id"] == "d" and discovered["result"]["_meta"][SERVER_INFO_KEY]["name"] \
        == "paged"
    assert [t["name"] for t in listed["result"]["tools"]] == ["echo"] and cursor.endswith(".page-2")
    assert [t["name"] for t in second["result"]["tools"]] == ["pid"]
    # The same answers as the server gives over its own stdio in that era (ids aside).
    assert direct(message(1, "server/discover"))["result"] == discovered["result"]
    assert {**direct(message(2, "tools/list"))["result"], "nextCursor": cursor} == listed["result"]


def test_a_handshake_era_child_is_translated(tmp_path: Path) -> None:
    with run_bridge(PAGED, tmp_path / "bridge.log", IDLE, env=ENV) as b, httpx.Client(timeout=20) as client:
        got = answer(post(client, b.url + "/mcp", message("m", "tools/call", {"name": "meta", "arguments": {}})))
        log = b.log_path.read_text()
    assert VERSION_KEY not in text_json(got["result"])["keys"]
    assert "the child speaks the handshake era" in log
