"""Refusals: an HTTP status, a JSON-RPC error body a client can show, and a few headers.

Every refusal the security layer makes is one of these. Bodies never carry a token or a mapped
header's value: only names and the request facts the client sent in plain sight (Host, Origin).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Send

from bridge import codec

# JSON-RPC 2.0 "Invalid Request": the request as sent cannot be served. There is no standard code
# for authentication; clients show the message, and the HTTP status says what went wrong.
INVALID_REQUEST = -32600

CONTENT_TYPE_JSON = (b"content-type", b"application/json")
REALM = "mcp-bridge"


def www_authenticate(error: str | None = None) -> tuple[bytes, bytes]:
    """The `WWW-Authenticate` header of a 401: the Bearer scheme, our realm, and an RFC 6750 error."""
    value = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return (b"www-authenticate", value.encode("ascii"))


def jsonrpc_error_body(message: str, code: int = INVALID_REQUEST) -> bytes:
    """`{"jsonrpc":"2.0","id":null,"error":{"code":..,"message":..}}` as bytes."""
    return codec.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})


@dataclass(frozen=True, slots=True)
class Refusal:
    """A finished answer to a request the bridge will not serve."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def of(cls, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Refusal:
        return cls(status=status, body=jsonrpc_error_body(message), headers=headers)

    def raw_headers(self, extra: tuple[tuple[bytes, bytes], ...] = ()) -> list[tuple[bytes, bytes]]:
        length = (b"content-length", str(len(self.body)).encode("ascii"))
        return [CONTENT_TYPE_JSON, length, *self.headers, *extra]

    async def send(self, send: Send, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """Answer on a raw ASGI `send`; `extra` adds headers (CORS) for this one answer."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers(extra)})
        await send({"type": "http.response.body", "body": self.body})

    def as_response(self) -> Response:
        """The same answer as a Starlette response, for code that returns responses."""
        return Response(
            content=self.body,
            status_code=self.status,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers},
            media_type="application/json",
        )


class RefusedError(Exception):
    """Raised where a refusal cannot be returned; carries the `Refusal` to send."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.status}: {refusal.body.decode('utf-8', 'replace')}")
        self.refusal = refusal
