"""(4) A session the client never loses: when the remote session ends behind the client's back
(DELETE by someone else, its server process killed, the bridge restarted), the next call opens a
new remote session by replaying the client's handshake, and succeeds; the client does nothing.
A request the lost session had already taken gets an error, never a hang."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.servers.peer import SERVER_ARGV, SERVER_ENV, Peer, payload
from tests.support.procs import Started, free_port, script, start_server

from .support import PATHS, Log, session

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

REPLAYED = ["initialize", "notifications/initialized", "logging/setLevel", "resources/subscribe", "tools/call"]


async def _prepare(client: Client) -> int:
    """State the new remote session must get back; returns the server process's pid."""
    await client.set_logging_level("error")
    await client.subscribe_resource("test://full/a")
    pid: int = payload(await client.call_tool("whoami", {}))["pid"]
    return pid


async def _check_replayed(client: Client, peer: Peer, old_pid: int) -> None:
    """The call after the loss went to a new server process, which got the client's state."""
    new_pid = payload(await client.call_tool("whoami", {}))["pid"]
    assert new_pid != old_pid
    assert payload(await client.call_tool("received", {}))["methods"][:5] == REPLAYED
    assert payload(await client.call_tool("touch", {"uri": "test://full/a"})) == {"notified": True}
    assert payload(await client.call_tool("log", {"levels": ["warning", "error"]})) == {"sent": ["error"]}
    await peer.logs.wait_for(lambda logs: any(entry.data == "error message" for entry in logs))


def _session_id(log: Log) -> str:
    found = re.findall(r"Streamable HTTP session (\S+)", log.text())
    assert found, log.text()
    return str(found[-1])


async def test_session_deleted_behind_the_clients_back(full_bridge: Started, log: Log) -> None:
    url = full_bridge.url + "/mcp"
    peer = Peer()
    async with session(url, "--log-level", "info", log=log, peer=peer) as client:
        old_pid = await _prepare(client)
        async with httpx.AsyncClient(timeout=10) as http:
            deleted = await http.delete(url, headers={"mcp-session-id": _session_id(log)})
        assert deleted.status_code == 204
        await _check_replayed(client, peer, old_pid)
    assert "the remote session was gone: opened Streamable HTTP session" in log.text()


async def test_server_process_killed(remote_url: str, log: Log) -> None:
    peer = Peer()
    async with session(remote_url, log=log, peer=peer) as client:
        old_pid = await _prepare(client)
        os.kill(old_pid, signal.SIGKILL)
        await anyio.sleep(0.3)  # the bridge notices, and ends the session
        await _check_replayed(client, peer, old_pid)


async def _in_flight_when(client: Client, happen: Callable[[], None]) -> MCPError:
    """Call `gate` (it waits until opened, so only an error can end it), make `happen` happen once
    the server runs it; the error the call got."""
    started = anyio.Event()
    failure: list[MCPError] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async def call() -> None:
        try:
            await client.call_tool("gate", {"name": "never"}, progress_callback=on_progress)
        except MCPError as exc:
            failure.append(exc)

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await started.wait()
            happen()
    assert failure, "the call in flight was answered although its server died"
    return failure[0]


async def test_a_request_in_flight_gets_an_error(remote_url: str, log: Log) -> None:
    """The bridge answers for a server process that died (and `bridge connect` passes it on)."""
    async with session(remote_url, log=log) as client:
        pid = payload(await client.call_tool("whoami", {}))["pid"]
        error = await _in_flight_when(client, lambda: os.kill(pid, signal.SIGKILL))
        assert "ended" in error.message
        assert payload(await client.call_tool("echo", {"after": "loss"})) == {"after": "loss"}


@contextlib.contextmanager
def _bridge_on(port: int, log_path: Path) -> Iterator[Started]:
    argv = [script("bridge"), "run", "--host", "127.0.0.1", "--port", str(port), "--drain-timeout", "0",
            "--", *SERVER_ARGV]
    with start_server(argv, f"http://127.0.0.1:{port}/healthz", log_path, env=SERVER_ENV) as started:
        yield started


async def test_bridge_killed_and_restarted(transport: str, tmp_path: Path, log: Log) -> None:
    """The bridge dies (SIGKILL: nobody answers the call in flight, so `bridge connect` does); while
    it is down a call gets an error at once; once it is back, calls work again."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{PATHS[transport]}"
    with contextlib.ExitStack() as first:
        bridge = first.enter_context(_bridge_on(port, tmp_path / "first.log"))
        peer = Peer()
        async with session(url, log=log, peer=peer) as client:
            old_pid = await _prepare(client)
            error = await _in_flight_when(client, lambda: os.kill(bridge.pid, signal.SIGKILL))
            assert error.message.startswith("bridge connect: "), error.message
            first.close()
            with anyio.fail_after(10), pytest.raises(MCPError) as down:
                await client.call_tool("echo", {"while": "down"})
            assert "connection refused" in down.value.message
            with _bridge_on(port, tmp_path / "second.log"):
                await _check_replayed(client, peer, old_pid)
    assert "connection refused" in log.text() and "Traceback" not in log.text()
