"""Servers that are not (quite) MCP, each in a background thread of the test process: a TLS front
for a bridge, a plain HTTP page, a port that accepts connections and never answers, a proxy that
cuts connections; and the certificates the TLS front shows (made with the openssl CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def openssl(*args: str) -> None:
    """Run the openssl CLI (a test fails, naming the package, where it is missing)."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make a test certificate: install the Debian package openssl")
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (made by the openssl CLI)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert))
    return cert, key


@dataclass(frozen=True)
class PrivateCa:
    """A CA of the test's own, and a server certificate (127.0.0.1, localhost) it signed."""

    ca: Path
    cert: Path
    key: Path


def private_ca(directory: Path) -> PrivateCa:
    """A self-signed CA and a leaf certificate it signed, made by the openssl CLI as a company would."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr, ext = directory / "leaf.pem", directory / "leaf.key", directory / "leaf.csr", directory / "leaf.ext"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bridge connect test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(ca_key), "-out", str(ca))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n", encoding="ascii")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return PrivateCa(ca, cert, key)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.contextmanager
def serving(handle: Handler, context: ssl.SSLContext | None = None) -> Iterator[int]:
    """`handle` for every connection to a free loopback port (TLS with `context`), on an event loop
    of its own in a background thread; the port. The listener closes on exit."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []
    stop = asyncio.Event()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10) and port, "the test listener did not start"
    try:
        yield port[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        if not thread.is_alive():
            loop.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@contextlib.contextmanager
def tls_front(target_port: int, cert: Path, key: Path) -> Iterator[int]:
    """A TLS listener on a free loopback port, each connection piped to `target_port`; its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    with serving(handle, context) as port:
        yield port


@contextlib.contextmanager
def plain_http() -> Iterator[int]:
    """Python's own file server (GET answers HTML; POST is 501): an HTTP server that is not MCP."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@dataclass
class Cuts:
    """How many connections a `cutting_proxy` may still cut, and how many it did."""

    left: int
    done: int = 0


@contextlib.contextmanager
def cutting_proxy(target_port: int, marker: bytes, after: int, cuts: int = 1) -> Iterator[tuple[int, Cuts]]:
    """A loopback TCP proxy to `target_port` that breaks a connection (both ways, at once) once
    `after` bytes of answer followed a request holding `marker`; at most `cuts` times."""
    state = Cuts(cuts)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        armed = asyncio.Event()

        async def upstream() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    if marker in data and state.left > 0:
                        state.left -= 1
                        armed.set()
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.close()

        async def downstream() -> None:
            sent = 0
            with contextlib.suppress(ConnectionError):
                while data := await up_reader.read(65536):
                    if armed.is_set():
                        sent += len(data)
                        if sent > after:
                            state.done += 1
                            writer.transport.abort()
                            up_writer.transport.abort()
                            return
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)

    with serving(handle) as port:
        yield port, state
