"""A client that stops reading: its stream is disconnected after `--stall-timeout` (never unbounded
memory, never a child stalled for good); the session and every other session go on."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import answer, call, post, session, text_of
from tests.bridge.core.test_observability import scrape, value


def raw_post(port: int, session_id: str, body: dict[str, object]) -> socket.socket:
    """Send a request POST on a bare socket that will never read its answer."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    data = json.dumps(body).encode()
    sock.sendall(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nMcp-Session-Id: " + session_id.encode()
        + b"\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data
    )
    return sock


def test_a_reader_that_stalls_is_disconnected_and_nothing_else_suffers(bridge: BridgeFactory) -> None:
    options = ("--max-queue", "4", "--stall-timeout", "0.5")
    with bridge(*options) as b, httpx.Client(timeout=30) as client:
        url = b.url + "/mcp"
        port = int(b.url.rsplit(":", 1)[1])
        with session(client, url) as stalled_id, session(client, url) as other_id:
            sock = raw_post(port, stalled_id, call(1, "flood", count=400, size=65536))
            try:
                for _ in range(300):  # ~26 MiB cannot fit in the socket buffers and a queue of 4
                    metrics = scrape(client, b.url)
                    if value(metrics, "bridge_messages_dropped_total", reason="reader_stalled"):
                        break
                    time.sleep(0.05)
                assert value(metrics, "bridge_messages_dropped_total", reason="reader_stalled") >= 1
                # the other session was served all along, and so is the stalled one's next request
                assert text_of(answer(post(client, url, other_id, call(2, "echo", text="fine")))) == "fine"
                assert text_of(answer(post(client, url, stalled_id, call(3, "echo", text="again")))) == "again"
            finally:
                sock.close()
        assert "stalled for 0.5s: disconnecting it" in b.log()
        with session(client, url) as fresh:  # and new sessions start as ever
            assert text_of(answer(post(client, url, fresh, call(4, "echo", text="new")))) == "new"
