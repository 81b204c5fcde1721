"""`bridge connect` behind the replica suite's nginx: a lost replica costs its client nothing.

A stdio client (the `mcp` SDK's own `stdio_client` and `ClientSession`) runs `bridge connect URL`
pointed at nginx (deploy/nginx/replicas.conf, rendered as in test_nginx.py: routing on the session
id's `<replica>.` prefix) in front of three replicas, each around the full-protocol test server.
The client calls a tool and subscribes to a resource; the test SIGKILLs the replica that holds the
session (named by its id's prefix). The client's next call succeeds without the client doing
anything: `bridge connect` meets the backup's 404 (Streamable HTTP) or the cut event stream
(legacy SSE), opens a session on a live replica and replays the handshake and the subscription,
so a resource update after the loss still reaches the client.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from mcp import ClientSession
from mcp.client.stdio import stdio_client
from mcp_types import ResourceUpdatedNotification, ServerNotification

from tests.connect.support import PATHS, SESSION_LIMIT, Log, parameters
from tests.replicas.harness import ROOT, TRANSPORTS, Fleet, Transport, fleet
from tests.replicas.test_nginx import REPLICA_OPTIONS, Nginx, nginx_binary, nginx_in_front
from tests.servers.peer import READ_TIMEOUT, SERVER_ARGV, Peer, payload

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120),
              pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

TAG_ENV = "FULL_PROTOCOL_TAG"
"""The full-protocol server's `whoami` reports this variable: the replica's name."""
URI = "test://full/a"
SESSION_NAMES = {"streamable": "Streamable HTTP session", "sse": "legacy SSE session"}


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[Fleet, Nginx]]:
    """Three replicas around the full-protocol server, behind the nginx recipe."""
    nginx_binary()  # before starting anything
    options = (*REPLICA_OPTIONS, "--env", f"PYTHONPATH={ROOT}")
    with (fleet(tmp_path, 3, options, server=SERVER_ARGV, tag_env=TAG_ENV) as replicas,
          nginx_in_front(replicas, tmp_path / "nginx") as proxy):
        yield replicas, proxy


@asynccontextmanager
async def stdio_session(url: str, log: Log, peer: Peer) -> AsyncIterator[ClientSession]:
    """An initialized `ClientSession` over `stdio_client` whose server is `bridge connect URL`."""
    with log.writer() as errlog:
        async with (stdio_client(parameters(url, "--log-level", "info"), errlog=errlog) as (read, write),
                    ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT, message_handler=peer.message,
                                  logging_callback=peer.logging) as client):
            await client.initialize()
            yield client


def opened(log: Log, transport: Transport) -> tuple[list[str], list[str]]:
    """The ids of the remote sessions `bridge connect` opened for the client's initialize, and of
    those it opened by itself (replaying the handshake): its info and warning lines name each."""
    name = SESSION_NAMES[transport]
    text = log.text()
    return (re.findall(rf"connected to \S+: {name} ([^\s,]+)$", text, flags=re.M),
            re.findall(rf"the remote session was gone: opened {name} ([^\s,]+)", text))


def updates(items: list[ServerNotification]) -> int:
    return sum(isinstance(item, ResourceUpdatedNotification) and str(item.params.uri) == URI for item in items)


async def whoami(client: ClientSession) -> str:
    tag: str = payload(await client.call_tool("whoami", {"name": TAG_ENV}))["env"]
    return tag


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_killed_replica_goes_unnoticed_by_the_stdio_client(
        balanced: tuple[Fleet, Nginx], transport: Transport, tmp_path: Path) -> None:
    replicas, proxy = balanced
    log, peer = Log(tmp_path / "connect.stderr"), Peer()
    with anyio.fail_after(SESSION_LIMIT):
        async with stdio_session(proxy.url + PATHS[transport], log, peer) as client:
            assert payload(await client.call_tool("echo", {"before": "loss"})) == {"before": "loss"}
            await client.subscribe_resource(URI)
            assert payload(await client.call_tool("touch", {"uri": URI})) == {"notified": True}
            await peer.notifications.wait_for(lambda items: updates(items) == 1)

            [first], [] = opened(log, transport)
            holder = first.partition(".")[0]
            assert holder in {"r1", "r2", "r3"}, first
            assert await whoami(client) == holder, "the session id's prefix names the replica serving it"
            victim = replicas.by_name(holder)
            await anyio.to_thread.run_sync(victim.kill)

            # The client does nothing but go on.
            assert payload(await client.call_tool("echo", {"after": "loss"})) == {"after": "loss"}
            now = await whoami(client)
            assert now != holder and now in {"r1", "r2", "r3"}
            methods = payload(await client.call_tool("received", {}))["methods"]
            assert methods[:4] == ["initialize", "notifications/initialized", "resources/subscribe", "tools/call"], \
                "the new session got the client's handshake and subscription back, then the call"
            assert payload(await client.call_tool("touch", {"uri": URI})) == {"notified": True}
            await peer.notifications.wait_for(lambda items: updates(items) == 2)

    [again], [second] = opened(log, transport)
    assert again == first and second.startswith(f"{now}."), log.text()
    assert "Traceback" not in log.text() and ": error: " not in log.text(), log.text()
    assert not peer.errors.items
    print(f"\nnginx + bridge connect ({transport}): SIGKILL {holder} under {first}; the next call went on "
          f"as {second} on {now}, subscription replayed, 2/2 resource updates delivered, 0 client errors")
