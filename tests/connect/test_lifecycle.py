"""A `bridge connect` process's life: stdin's end (or SIGTERM) DELETEs the remote session and
exits 0; a line that is not JSON gets a parse error and changes nothing; ids cross byte for byte;
proxies come from the environment; `--help` documents the exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import msgspec

from tests.support.procs import Started, free_port, script

from .support import INITIALIZE, connect_argv, drive, talk

DELETED = "session ending: client sent DELETE"
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def test_help_documents_the_exit_codes() -> None:
    done = subprocess.run([script("bridge"), "connect", "--help"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for part in ("Exit codes: 0 stdin closed", "1 the remote could not be reached", "2 bad options",
                 "BRIDGE_CONNECT_HEADERS", "BRIDGE_CONNECT_TIMEOUT"):
        assert part in text


def test_stdin_end_deletes_the_session_and_exits_0(echo_bridge: Started) -> None:
    before = echo_bridge.log().count(DELETED)
    ran = drive(echo_bridge.url + "/mcp", messages=[INITIALIZE, INITIALIZED])
    assert ran.code == 0 and not ran.lines, ran
    assert ran.answers[0]["id"] == 0 and "result" in ran.answers[0]
    assert echo_bridge.log().count(DELETED) == before + 1


def test_sigterm_deletes_the_session_and_exits_0(echo_bridge: Started) -> None:
    before = echo_bridge.log().count(DELETED)
    proc = subprocess.Popen(connect_argv(echo_bridge.url + "/mcp"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n" + json.dumps(INITIALIZED).encode() + b"\n")
        proc.stdin.flush()
        assert "result" in json.loads(proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)  # stdin stays open
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and not err.strip(), err
    assert echo_bridge.log().count(DELETED) == before + 1


def test_lines_that_are_not_json_get_a_parse_error(echo_bridge: Started) -> None:
    ran = drive(echo_bridge.url + "/mcp", messages=["this is not json", {"jsonrpc": "2.0", "id": 7, "method": "ping"}])
    assert ran.code == 0
    assert ran.answers == [{"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}},
                           {"jsonrpc": "2.0", "id": 7, "result": {}}]


def test_proxies_come_from_the_environment(echo_bridge: Started) -> None:
    """HTTP_PROXY (HTTPS_PROXY for https://) is used: a proxy that is down makes the start fail;
    NO_PROXY lets the same start through."""
    proxy = {"HTTP_PROXY": f"http://127.0.0.1:{free_port()}", "NO_PROXY": ""}
    through_proxy = drive(echo_bridge.url + "/mcp", env=proxy)
    assert through_proxy.code == 1 and "connection refused" in through_proxy.stderr
    direct = drive(echo_bridge.url + "/mcp", env={**proxy, "NO_PROXY": "127.0.0.1"})
    assert direct.code == 0, direct.stderr


def test_ids_come_back_as_the_client_wrote_them(echo_bridge: Started) -> None:
    """Beyond 63 bits, or strings with escapes: each answer names its request's id, of its type.
    An id beyond 64 bits the bridge refuses (400), and `bridge connect` answers it with an error
    naming that id exactly."""
    ids = [b"12345678901234567890", b'"id \\"quoted\\" \\u00e9 \\\\ end"', b"-7", b"123456789012345678901234567890"]
    calls = [b'{"jsonrpc": "2.0", "id": ' + i + b', "method": "tools/call", '
             b'"params": {"name": "echo", "arguments": {"text": "x"}}}' for i in ids]
    expected = {msgspec.json.decode(i): i != ids[-1] for i in ids}
    for path in ("/mcp", "/sse"):
        lines = [json.dumps(INITIALIZE).encode(), json.dumps(INITIALIZED).encode(), *calls]
        answers = [msgspec.json.decode(line) for line in talk(echo_bridge.url + path, lines=lines, answers=5)[1:]]
        assert {answer["id"]: "result" in answer for answer in answers} == expected
        assert all(type(answer["id"]) is type(key) for answer in answers for key in expected if key == answer["id"])
        refused = next(answer for answer in answers if "error" in answer)
        assert "HTTP 400" in refused["error"]["message"]
