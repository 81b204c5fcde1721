"""Client sessions over the three paths the bench compares, all speaking the same hand-written JSON-RPC.

- `PipeSession`: the child started directly, stdin/stdout pipes (the floor);
- `SseSession`: legacy SSE through the bridge (`GET /sse`, `POST /messages?session_id=`);
- `StreamableSession`: Streamable HTTP through the bridge (`POST`/`DELETE /mcp`, `Mcp-Session-Id`).

`open` returns a session after `initialize` and `notifications/initialized`; `setup_seconds` is the
time from the first byte of work (spawn or TCP connect) to the `initialize` result. Every exchange is
bounded by `timeout`. Calls on one session are sequential (the bench never pipelines a session).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from bench import wire
from bench.http1 import HttpConnection, HttpError, KeepAlive, Response
from bench.sse import Event, SseParser

MAX_LINE = 256 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class Session(ABC):
    """One MCP session; subclasses move bytes, this class owns ids, the handshake and timeouts."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.setup_seconds = 0.0
        self._next_id = 0
        self.child_pid: int | None = None  # set when the bench itself started the child

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _handshake(self, started: float) -> None:
        request_id = self._new_id()
        with anyio.fail_after(self.timeout):
            wire.result_of(await self._exchange(request_id, wire.initialize(request_id)))
        self.setup_seconds = time.perf_counter() - started
        with anyio.fail_after(self.timeout):
            await self._notify(wire.initialized())

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The decoded response to one tools/call (JSON-RPC errors are raised, tool errors kept)."""
        request_id = self._new_id()
        with anyio.fail_after(self.timeout):
            return await self._exchange(request_id, wire.call_tool(request_id, name, arguments))

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The decoded response to one request (e.g. `tools/list`)."""
        request_id = self._new_id()
        with anyio.fail_after(self.timeout):
            return await self._exchange(request_id, wire.request(request_id, method, params))

    @abstractmethod
    async def _exchange(self, request_id: int, body: bytes) -> dict[str, Any]:
        """Send one request; return the response to `request_id` (other messages are skipped)."""

    @abstractmethod
    async def _notify(self, body: bytes) -> None:
        """Send one notification."""

    @abstractmethod
    async def aclose(self) -> None:
        """End the session (and the child, when the bench started it)."""


class PipeSession(Session):
    def __init__(self, process: Process, timeout: float) -> None:
        super().__init__(timeout)
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self.child_pid = process.pid

    @classmethod
    async def open(
        cls, argv: Sequence[str], env: Mapping[str, str] | None = None, per_exchange: float = DEFAULT_TIMEOUT
    ) -> PipeSession:
        started = time.perf_counter()
        process = await anyio.open_process(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        session = cls(process, per_exchange)
        try:
            await session._handshake(started)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await session.aclose()
            raise
        return session

    async def _notify(self, body: bytes) -> None:
        await self._stdin.send(body + b"\n")

    async def _exchange(self, request_id: int, body: bytes) -> dict[str, Any]:
        await self._stdin.send(body + b"\n")
        while True:
            line = await self._stdout.receive_until(b"\n", MAX_LINE)
            if line.strip():
                message = wire.decode(line)
                if wire.is_response_to(message, request_id):
                    return message

    async def aclose(self) -> None:
        """Close stdin (the child's signal to exit), then wait; kill after 5 s; always reap."""
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await self._stdin.aclose()
        with anyio.move_on_after(5):
            await self._process.wait()
        if self._process.returncode is None:
            self._process.kill()
            with anyio.move_on_after(5):
                await self._process.wait()
        await self._process.aclose()


def _message_from_events(events: list[Event], request_id: int) -> dict[str, Any] | None:
    """Pop events up to the response to `request_id`; return it, or None if it is not there yet."""
    while events:
        event = events.pop(0)
        if event.event == "message":
            message = wire.decode(event.data)
            if wire.is_response_to(message, request_id):
                return message
    return None


def _expect(response: Response, statuses: tuple[int, ...], what: str) -> None:
    if response.status not in statuses:
        raise HttpError(f"{what}: HTTP {response.status} (expected {' or '.join(map(str, statuses))})")


class SseSession(Session):
    def __init__(self, host: str, port: int, timeout: float) -> None:
        super().__init__(timeout)
        self._host = host
        self._port = port
        self._stream_conn: HttpConnection | None = None
        self._stream: Response | None = None
        self._posts = KeepAlive(host, port)
        self._parser = SseParser()
        self._events: list[Event] = []
        self._endpoint = ""

    @classmethod
    async def open(
        cls, host: str, port: int, path: str = "/sse", per_exchange: float = DEFAULT_TIMEOUT
    ) -> SseSession:
        session = cls(host, port, per_exchange)
        try:
            with anyio.fail_after(per_exchange):
                started = time.perf_counter()
                await session._connect(path)
            await session._handshake(started)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await session.aclose()
            raise
        return session

    async def _connect(self, path: str) -> None:
        self._stream_conn = await HttpConnection.open(self._host, self._port)
        self._stream = await self._stream_conn.request("GET", path, {"Accept": "text/event-stream"})
        _expect(self._stream, (200,), f"GET {path}")
        endpoint = await self._next_event()
        if endpoint.event != "endpoint":
            raise HttpError(f"first SSE event is {endpoint.event!r}, expected 'endpoint'")
        url = urlsplit(endpoint.data.decode().strip())
        self._endpoint = url.path + (f"?{url.query}" if url.query else "")

    async def _next_event(self) -> Event:
        assert self._stream is not None
        while not self._events:
            piece = await self._stream.next_piece()
            if piece is None:
                raise HttpError("the SSE stream ended")
            self._events.extend(self._parser.feed(piece))
        return self._events.pop(0)

    async def _post(self, body: bytes) -> None:
        response = await self._posts.request(
            "POST", self._endpoint, {"Content-Type": "application/json"}, body
        )
        await response.read_all()
        _expect(response, (202,), f"POST {self._endpoint}")

    async def _notify(self, body: bytes) -> None:
        await self._post(body)

    async def _exchange(self, request_id: int, body: bytes) -> dict[str, Any]:
        await self._post(body)
        while True:
            event = await self._next_event()
            if event.event == "message":
                message = wire.decode(event.data)
                if wire.is_response_to(message, request_id):
                    return message

    async def aclose(self) -> None:
        """Closing the GET stream is how a legacy SSE client ends its session."""
        await self._posts.aclose()
        if self._stream_conn is not None:
            await self._stream_conn.aclose()


class StreamableSession(Session):
    def __init__(self, host: str, port: int, path: str, timeout: float) -> None:
        super().__init__(timeout)
        self._conn = KeepAlive(host, port)
        self._path = path
        self._headers = dict(_JSON_HEADERS)
        self.session_id: str | None = None

    @classmethod
    async def open(
        cls, host: str, port: int, path: str = "/mcp", per_exchange: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> StreamableSession:
        """A session after its handshake; `headers` go with every request (e.g. a user's credentials)."""
        session = cls(host, port, path, per_exchange)
        session._headers.update(headers or {})
        try:
            await session._handshake(time.perf_counter())
        except BaseException:
            with anyio.CancelScope(shield=True):
                await session.aclose()
            raise
        return session

    async def _request(self, method: str, body: bytes = b"") -> Response:
        return await self._conn.request(method, self._path, self._headers, body)

    async def _notify(self, body: bytes) -> None:
        response = await self._request("POST", body)
        await response.read_all()
        _expect(response, (202,), f"POST {self._path} (notification)")

    async def _exchange(self, request_id: int, body: bytes) -> dict[str, Any]:
        response = await self._request("POST", body)
        if response.status != 200:
            detail = (await response.read_all())[:300]
            raise HttpError(f"POST {self._path}: HTTP {response.status}: {detail!r}")
        if self.session_id is None and "mcp-session-id" in response.headers:
            self.session_id = response.headers["mcp-session-id"]
            self._headers["Mcp-Session-Id"] = self.session_id
            self._headers["MCP-Protocol-Version"] = wire.PROTOCOL_VERSION
        if response.content_type == "application/json":
            message = wire.decode(await response.read_all())
            if not wire.is_response_to(message, request_id):
                raise HttpError("the JSON answer is not the response to the request")
            return message
        found: dict[str, Any] | None = None
        parser = SseParser()
        while (piece := await response.next_piece()) is not None:
            if found is None:
                found = _message_from_events(parser.feed(piece), request_id)
        if found is None:
            raise HttpError("the POST's event stream ended without the response")
        return found

    async def aclose(self) -> None:
        """DELETE ends the session on the bridge (and its child); then the connection goes."""
        try:
            if self.session_id is not None:
                with (
                    anyio.move_on_after(self.timeout),
                    contextlib.suppress(OSError, HttpError, anyio.EndOfStream),
                ):
                    response = await self._request("DELETE")
                    await response.read_all()
        finally:
            await self._conn.aclose()
