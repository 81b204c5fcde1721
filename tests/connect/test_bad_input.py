"""(5) What cannot work says so: an unreachable port, a refused token, a TLS certificate nobody
vouches for, a server that is not MCP, one that never answers. Each gives one clear line on
stderr and a JSON-RPC error for the initialize, then exit code 1; never a traceback, always
within a bounded time. Bad options exit 2. Tokens can come from the environment or a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge import cli
from tests.support.procs import Started, free_port

from .servers import plain_http, self_signed, silent_port, tls_front
from .support import TOKEN, Log, Ran, drive, refused, session

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

BOUND = 10.0
"""Seconds any failing start may take, all told (a process start included)."""


def assert_refused(ran: Ran, *words: str) -> str:
    """Exit 1 with one stderr line holding `words`, and that line as the initialize's error."""
    assert ran.code == 1, ran
    assert len(ran.lines) == 1, ran.stderr
    line = ran.lines[0]
    assert line.startswith("bridge connect: error: "), line
    for word in words:
        assert word in line, line
    assert "Traceback" not in ran.stderr
    assert ran.seconds < BOUND
    assert len(ran.answers) == 1 and ran.answers[0]["id"] == 0, ran.answers
    assert line.split(": ", 2)[2] in ran.answers[0]["error"]["message"]
    return line


@pytest.mark.parametrize("transport", ["auto", "sse"])
def test_unreachable_port(transport: str) -> None:
    ran = drive(f"http://127.0.0.1:{free_port()}/mcp", "--transport", transport)
    assert_refused(ran, "connection refused")


def test_unknown_host() -> None:
    assert_refused(drive("http://no-such-host.invalid/mcp"), "host name not found")


async def test_the_sdk_client_sees_the_error(log: Log) -> None:
    async with refused(f"http://127.0.0.1:{free_port()}/mcp", log=log) as errors:
        assert "connection refused" in errors[0].message
    assert len(log.lines()) == 1


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
def test_401_without_a_token(guarded_bridge: Started, path: str) -> None:
    line = assert_refused(drive(guarded_bridge.url + path), "HTTP 401", "wants credentials", "--header")
    assert TOKEN not in line


def test_401_with_a_wrong_token(guarded_bridge: Started) -> None:
    ran = drive(guarded_bridge.url + "/mcp", "--header", "Authorization: Bearer env:CONNECT_TEST_TOKEN",
                env={"CONNECT_TEST_TOKEN": "wrong"})
    assert_refused(ran, "HTTP 401", "credentials were refused")


async def test_token_from_the_environment(guarded_bridge: Started, log: Log) -> None:
    env = {"CONNECT_TEST_TOKEN": TOKEN}
    async with session(guarded_bridge.url + "/mcp", "--header", "Authorization: Bearer env:CONNECT_TEST_TOKEN",
                       log=log, env=env) as client:
        assert (await client.call_tool("echo", {"text": "in"})).content[0].model_dump()["text"] == "in"
    assert TOKEN not in log.text()


async def test_token_from_a_file_and_every_option_from_variables(guarded_bridge: Started, tmp_path: Path,
                                                                 log: Log) -> None:
    secret = tmp_path / "token"
    secret.write_text(f"Bearer {TOKEN}\n")
    env = {"BRIDGE_CONNECT_URL": guarded_bridge.url + "/sse", "BRIDGE_CONNECT_TRANSPORT": "sse",
           "BRIDGE_CONNECT_HEADERS": f"Authorization: file:{secret}\nX-Extra: a, b c"}
    async with session(None, "--log-level", "info", log=log, env=env) as client:  # no URL argument
        assert (await client.call_tool("echo", {"text": "in"})).content[0].model_dump()["text"] == "in"
    assert "legacy SSE session" in log.text() and TOKEN not in log.text()


def test_a_plain_http_server() -> None:
    with plain_http() as port:
        assert_refused(drive(f"http://127.0.0.1:{port}/"), "not an MCP endpoint", "HTTP 501")


def test_a_path_that_is_not_mcp(full_bridge: Started) -> None:
    assert_refused(drive(full_bridge.url + "/nope"), "not an MCP endpoint", "POST: HTTP 404", "GET: HTTP 404")


def test_a_server_that_never_answers() -> None:
    with silent_port() as port:
        ran = drive(f"http://127.0.0.1:{port}/mcp", "--timeout", "1")
    assert_refused(ran, "no answer to initialize within --timeout (1s)")
    assert ran.seconds < 5


def test_tls_certificate_not_trusted_then_trusted_with_ca_file(echo_bridge: Started, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with tls_front(int(echo_bridge.url.rsplit(":", 1)[1]), cert, key) as port:
        url = f"https://127.0.0.1:{port}/mcp"
        assert_refused(drive(url), "TLS certificate not trusted", "--ca-file")
        trusted = drive(url, "--ca-file", str(cert))
    assert trusted.code == 0, trusted.stderr
    assert trusted.answers[0]["result"]["serverInfo"]["name"] == "echo"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("ftp://example.com/mcp",), "URL"),
        (("http://127.0.0.1:1/mcp", "--header", "no colon here"), "--header"),
        (("http://127.0.0.1:1/mcp", "--header", "Authorization: env:CONNECT_TEST_UNSET"), "CONNECT_TEST_UNSET"),
        (("http://127.0.0.1:1/mcp", "--header", "Authorization: file:/nonexistent/token"), "/nonexistent/token"),
        (("http://127.0.0.1:1/mcp", "--ca-file", "/nonexistent/ca.pem"), "--ca-file"),
        (("http://127.0.0.1:1/mcp", "--transport", "carrier-pigeon"), "--transport"),
        ((), "URL"),
    ],
)
def test_bad_options_exit_2(args: tuple[str, ...], named: str) -> None:
    done = CliRunner().invoke(cli.app, ["connect", *args], env={"BRIDGE_CONNECT_URL": None, "COLUMNS": "200"})
    assert done.exit_code == 2, done.output
    assert named in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
