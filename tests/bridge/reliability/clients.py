"""Raw async clients for the reliability suite: one Streamable HTTP or legacy SSE session driven by
hand over `httpx`, recording every message it receives, so a test can tell a lost answer from a
duplicated or misrouted one (an SDK client would hide both)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from anyio.abc import TaskStatus

ACCEPT = "application/json, text/event-stream"
PROTOCOL_VERSION = "2025-11-25"
Message = dict[str, Any]
OnMessage = Callable[[Message], None]


class UnexpectedAnswer(Exception):
    """The bridge answered with a status or body the exchange did not expect."""


def http_client(timeout: float = 60.0) -> httpx.AsyncClient:
    """A client with no cap on connections (each SSE stream holds one). Idle keep-alive connections
    are dropped after 2 s, well before uvicorn closes them (5 s): reusing one at the moment the
    server closes it fails a POST before any answer, which would look like a lost message."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=10.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=1000, keepalive_expiry=2.0),
    )


def request(id_: Any, method: str, params: dict[str, Any] | None = None) -> Message:
    message: Message = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def call(id_: Any, tool: str, arguments: dict[str, Any], token: Any = None) -> Message:
    params: dict[str, Any] = {"name": tool, "arguments": arguments}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return request(id_, "tools/call", params)


def initialize(id_: Any = 0, version: str = PROTOCOL_VERSION, client_name: str = "reliability") -> Message:
    return request(id_, "initialize", {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": client_name, "version": "1"},
    })


INITIALIZED: Message = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def text_of(message: Message) -> str:
    return str(message["result"]["content"][0]["text"])


def key(id_: Any) -> tuple[str, Any]:
    """A dict key that keeps `1` and `"1"` apart."""
    return type(id_).__name__, id_


class EventParser:
    """Server-sent events from bytes (LF or CRLF line ends): `(event name, data)` per event with
    data; `id:` and `retry:` are read and ignored, comments (keep-alives) skipped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scan = 0
        self._name = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        self._buffer += chunk
        events: list[tuple[str, bytes]] = []
        start = 0
        end = self._buffer.find(b"\n", self._scan)
        while end != -1:
            line = bytes(self._buffer[start:end]).removesuffix(b"\r")
            start = end + 1
            if not line:
                data = b"\n".join(self._data)
                if data:  # an event without data is a resumable stream's priming event: skipped
                    events.append((self._name or "message", data))
                self._name, self._data = "", []
            elif not line.startswith(b":"):
                field, _, value = line.partition(b":")
                value = value.removeprefix(b" ")
                if field == b"data":
                    self._data.append(value)
                elif field == b"event":
                    self._name = value.decode()
            end = self._buffer.find(b"\n", start)
        del self._buffer[:start]
        self._scan = len(self._buffer)
        return events


def decode_message(data: bytes) -> Message:
    try:
        message = json.loads(data)
    except ValueError:
        raise UnexpectedAnswer(f"an event that is not JSON: {data[:200]!r}") from None
    if not isinstance(message, dict):
        raise UnexpectedAnswer(f"an event that is not a JSON-RPC message: {data[:200]!r}")
    return message


async def read_messages(response: httpx.Response, sink: list[Message], on_message: OnMessage | None) -> None:
    """Every `message` event of an SSE response (or its one JSON body) into `sink`, as it arrives."""
    if response.headers.get("content-type", "").startswith("application/json"):
        message = decode_message(await response.aread())
        sink.append(message)
        if on_message:
            on_message(message)
        return
    parser = EventParser()
    async for chunk in response.aiter_bytes():
        for name, data in parser.feed(chunk):
            if name != "message":
                raise UnexpectedAnswer(f"unexpected {name!r} event: {data[:200]!r}")
            message = decode_message(data)
            sink.append(message)
            if on_message:
                on_message(message)


class StreamableSession:
    """One Streamable HTTP session: `open` (initialize), `exchange`, `listen` (GET), `delete`."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, path: str = "/mcp") -> None:
        self.http = http
        self.url = base_url + path
        self.session_id = ""
        self.version = PROTOCOL_VERSION
        self.get_messages: list[Message] = []

    def headers(self) -> dict[str, str]:
        headers = {"accept": ACCEPT, "content-type": "application/json"}
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
            headers["mcp-protocol-version"] = self.version
        return headers

    async def open(self, version: str = PROTOCOL_VERSION, client_name: str = "reliability") -> Message:
        """initialize + notifications/initialized; returns the initialize answer."""
        got: list[Message] = []
        async with self.http.stream(
            "POST", self.url, json=initialize(0, version, client_name), headers=self.headers()
        ) as response:
            if response.status_code != 200:
                raise UnexpectedAnswer(f"initialize: HTTP {response.status_code}: {(await response.aread())[:300]!r}")
            session_id = response.headers.get("mcp-session-id")
            await read_messages(response, got, None)
        if not got or "result" not in got[-1] or not session_id:
            raise UnexpectedAnswer(f"initialize failed: {got!r}")
        self.session_id, self.version = session_id, version
        note = await self.http.post(self.url, json=INITIALIZED, headers=self.headers())
        if note.status_code != 202:
            raise UnexpectedAnswer(f"notifications/initialized: HTTP {note.status_code}")
        return got[-1]

    async def exchange(self, message: Message, on_message: OnMessage | None = None) -> list[Message]:
        """POST one request; every message of its answer stream, in order (the answer is last)."""
        got: list[Message] = []
        async with self.http.stream("POST", self.url, json=message, headers=self.headers()) as response:
            if response.status_code != 200:
                raise UnexpectedAnswer(f"POST: HTTP {response.status_code}: {(await response.aread())[:300]!r}")
            await read_messages(response, got, on_message)
        return got

    async def notify(self, message: Message) -> httpx.Response:
        return await self.http.post(self.url, json=message, headers=self.headers())

    async def listen(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The session's GET stream into `get_messages` until the bridge closes it."""
        async with self.http.stream("GET", self.url, headers=self.headers()) as response:
            if response.status_code != 200:
                raise UnexpectedAnswer(f"GET: HTTP {response.status_code}: {(await response.aread())[:300]!r}")
            task_status.started()
            await read_messages(response, self.get_messages, None)

    async def delete(self) -> int:
        return (await self.http.delete(self.url, headers=self.headers())).status_code


class SseSession:
    """One legacy SSE session: `run` holds the GET stream (start it with `task_group.start`), every
    message on it is recorded; `exchange` POSTs a request and waits for its answer on the stream."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, path: str = "/sse") -> None:
        self.http = http
        self.base_url = base_url
        self.url = base_url + path
        self.endpoint = ""
        self.session_id = ""
        self.answers: dict[tuple[str, Any], list[Message]] = {}
        self.others: list[Message] = []
        self.stream_ended = anyio.Event()
        self._arrived = anyio.Event()
        self._scope: anyio.CancelScope | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the stream, read the endpoint event, then record messages until it ends or `close`."""
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                async with self.http.stream("GET", self.url, headers={"accept": "text/event-stream"}) as response:
                    if response.status_code != 200:
                        raise UnexpectedAnswer(f"GET /sse: HTTP {response.status_code}: {(await response.aread())[:300]!r}")
                    parser = EventParser()
                    async for chunk in response.aiter_bytes():
                        for name, data in parser.feed(chunk):
                            if name == "endpoint" and not self.endpoint:
                                target = data.decode()
                                self.endpoint = target if target.startswith("http") else self.base_url + target
                                self.session_id = target.rsplit("session_id=", 1)[1]
                                task_status.started()
                            elif name == "message":
                                self._record(decode_message(data))
                            else:
                                raise UnexpectedAnswer(f"unexpected {name!r} event: {data[:200]!r}")
                if not self.endpoint:
                    raise UnexpectedAnswer("the SSE stream ended before its endpoint event")
        finally:
            self.stream_ended.set()
            self._wake()

    def _record(self, message: Message) -> None:
        if "method" not in message and "id" in message:
            self.answers.setdefault(key(message["id"]), []).append(message)
        else:
            self.others.append(message)
        self._wake()

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = anyio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until `predicate()` holds; `UnexpectedAnswer` if the stream ends first."""
        while not predicate():
            if self.stream_ended.is_set():
                raise UnexpectedAnswer("the SSE stream ended")
            await self._arrived.wait()

    async def post(self, message: Message) -> httpx.Response:
        return await self.http.post(self.endpoint, json=message)

    async def send(self, message: Message) -> None:
        response = await self.post(message)
        if response.status_code != 202 or response.content:
            raise UnexpectedAnswer(f"POST /messages: HTTP {response.status_code}: {response.content[:300]!r}")

    async def exchange(self, message: Message) -> Message:
        """POST a request (202) and return its answer from the stream (the first with its id)."""
        wanted = key(message["id"])
        await self.send(message)
        await self.wait_for(lambda: wanted in self.answers)
        return self.answers[wanted][0]

    async def handshake(self, version: str = PROTOCOL_VERSION, client_name: str = "reliability") -> Message:
        answer = await self.exchange(initialize("init", version, client_name))
        if "result" not in answer:
            raise UnexpectedAnswer(f"initialize failed: {answer!r}")
        await self.send(INITIALIZED)
        return answer

    def close(self) -> None:
        """Close the stream: for legacy SSE, this is how a client ends its session."""
        if self._scope is not None:
            self._scope.cancel()
