"""A small HTTP/1.1 client over one keep-alive anyio TCP connection, written for the bench.

It sends exactly the bytes it is given (plus Host and Content-Length) and reads a response head,
then the body by Content-Length, chunked transfer coding, or until close. A body can be read whole
(`read_all`) or piece by piece (`next_piece`, for event streams). One request at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

MAX_HEAD = 64 * 1024
MAX_BODY = 256 * 1024 * 1024
READ_PIECE = 1024 * 1024


class HttpError(RuntimeError):
    """The server answered something this client cannot read, or an unexpected status."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    _conn: HttpConnection
    _remaining: int | None  # Content-Length left, or None for chunked / until close
    _chunked: bool
    done: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    async def next_piece(self) -> bytes | None:
        """The next piece of the body, or None once it has all been read."""
        if self.done:
            return None
        piece = await self._conn.read_piece(self)
        if piece is None:
            self.done = True
        return piece

    async def read_all(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while (piece := await self.next_piece()) is not None:
            parts.append(piece)
            size += len(piece)
            if size > MAX_BODY:
                raise HttpError(f"body larger than {MAX_BODY} bytes")
        return b"".join(parts)


class HttpConnection:
    def __init__(self, stream: SocketStream, host: str) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self._host = host
        self.closed_by_peer = False

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        stream = await anyio.connect_tcp(host, port)
        return cls(stream, f"{host}:{port}")

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        """Send one request and read the response head; the body is read through the Response."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        await self._stream.send("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
        return await self._read_head(method)

    async def _read_head(self, method: str) -> Response:
        head = await self._reader.receive_until(b"\r\n\r\n", MAX_HEAD)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line: {status_line!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError(f"bad header line: {line!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            remaining: int | None = 0
        elif chunked:
            remaining = None
        elif length is not None:
            remaining = int(length)
        else:
            remaining = None  # read until the server closes
        if headers.get("connection", "").lower() == "close":
            self.closed_by_peer = True
        return Response(status, headers, self, remaining, chunked, done=remaining == 0)

    async def read_piece(self, response: Response) -> bytes | None:
        if response._chunked:
            return await self._read_chunk()
        if response._remaining is None:
            try:
                return await self._reader.receive()
            except (anyio.EndOfStream, anyio.IncompleteRead):
                self.closed_by_peer = True
                return None
        if response._remaining == 0:
            return None
        piece = await self._reader.receive(response._remaining)
        response._remaining -= len(piece)
        return piece

    async def _read_chunk(self) -> bytes | None:
        size_line = await self._reader.receive_until(b"\r\n", 1024)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while await self._reader.receive_until(b"\r\n", MAX_HEAD):
                pass  # trailers, up to the blank line
            return None
        data = await self._read_exactly(size)
        if await self._reader.receive_exactly(2) != b"\r\n":
            raise HttpError("chunk not followed by CRLF")
        return data


    async def _read_exactly(self, size: int) -> bytes:
        """`size` bytes, gathered as the pieces they arrive in and joined once (a large chunk is copied once)."""
        parts: list[bytes] = []
        left = size
        while left:
            try:
                piece = await self._reader.receive(min(left, READ_PIECE))
            except anyio.EndOfStream:
                raise anyio.IncompleteRead from None
            parts.append(piece)
            left -= len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class KeepAlive:
    """One keep-alive connection that is reopened when the server has closed it.

    A server may close an idle keep-alive connection (uvicorn does after a few seconds) at the very
    moment the next request goes out; like any HTTP client, a request that fails that way on a
    reused connection, before any answer, is sent once more on a fresh one.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._conn: HttpConnection | None = None
        self._used = False

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        if self._conn is None or self._conn.closed_by_peer:
            await self._reopen()
        assert self._conn is not None
        try:
            response = await self._conn.request(method, target, headers, body)
        except (anyio.BrokenResourceError, anyio.EndOfStream, anyio.IncompleteRead):
            if not self._used:
                raise
            await self._reopen()
            assert self._conn is not None
            response = await self._conn.request(method, target, headers, body)
        self._used = True
        return response

    async def _reopen(self) -> None:
        await self.aclose()
        self._conn = await HttpConnection.open(self._host, self._port)
        self._used = False

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.aclose()
            self._conn = None
