"""What went wrong with the remote, in one line a person can act on (never a traceback).

Every failure `bridge connect` reports (on stderr, and as the message of a JSON-RPC error) goes
through `describe` (an exception from httpx or the network) or `status` (an HTTP answer that is not
what the transport expects).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx
import msgspec

BODY_LIMIT = 64 * 1024
"""Bytes of an error answer's body read for its message."""


class RemoteProblem(Exception):
    """A failure to reach or use the remote; `str()` is the line to show; `status` the HTTP status."""

    def __init__(self, line: str, status: int | None = None) -> None:
        super().__init__(line)
        self.status = status


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe(exc: BaseException) -> str:
    """An httpx or network exception as one line."""
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"TLS certificate not trusted ({cause.verify_message or cause.reason}); "
                    "give its CA with --ca-file, or --truststore if the system trusts it")
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the server running, on this port?)"
    if isinstance(exc, httpx.ConnectTimeout):
        return "no connection within --timeout"
    if isinstance(exc, httpx.ReadTimeout):
        return "no data within --read-timeout"
    if isinstance(exc, httpx.WriteTimeout | httpx.PoolTimeout):
        return "could not send the request within --timeout"
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error: {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc or type(exc).__name__}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke off the HTTP exchange ({exc or 'no detail'})"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection broke"
    return f"{type(exc).__name__}: {exc}"


def status(response: httpx.Response, body: bytes, action: str) -> str:
    """An unexpected HTTP answer as one line: what was done, the status, and what the server said."""
    code = response.status_code
    line = f"{action}: HTTP {code} {response.reason_phrase}".rstrip()
    if code == 401:
        sent = "authorization" in response.request.headers
        hint = "the credentials were refused" if sent else "the server wants credentials"
        return f"{line}: {hint} (--header 'Authorization: Bearer env:VAR')"
    if 300 <= code < 400:
        return f"{line}: redirected to {response.headers.get('location', '?')}; use that URL"
    said = server_message(body, response.headers.get("content-type", ""))
    return f"{line}: {said}" if said else line


def server_message(body: bytes, content_type: str) -> str:
    """The message of a JSON-RPC error body, or the first line of a short text body."""
    if not body:
        return ""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        value = None
    if isinstance(value, dict):
        error = value.get("error")
        message = error.get("message") if isinstance(error, dict) else value.get("message") or value.get("detail")
        return str(message)[:200] if message else ""
    if content_type.startswith("text/plain"):
        first = body.decode("utf-8", "replace").strip().splitlines()
        return first[0][:200] if first else ""
    return ""


async def read_some(response: httpx.Response) -> bytes:
    """Up to `BODY_LIMIT` bytes of a streamed response's body (an error answer's, say)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass
    return b"".join(chunks)[:BODY_LIMIT]
