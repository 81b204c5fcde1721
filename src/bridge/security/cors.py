"""CORS, opt-in per origin: preflight answers and the headers added to allowed origins' responses.

All header values are built once. `Access-Control-Allow-Origin` echoes the request's origin (also
for `*`), with `Vary: Origin`, so caches keep answers for different origins apart. No
`Allow-Credentials`: the bridge uses the `Authorization` header, never cookies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.security.hosts import OriginAllowList

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = ("Authorization", "Content-Type", "Accept", "Mcp-Session-Id", "MCP-Protocol-Version",
                 "Last-Event-ID")
EXPOSE_HEADERS = "Mcp-Session-Id, WWW-Authenticate"
MAX_AGE_SECONDS = 600

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """Which origins may read the bridge's answers from a browser, and what they are told."""

    origins: OriginAllowList | None
    preflight_headers: Headers
    response_headers: Headers

    @classmethod
    def build(cls, cors_origins: Iterable[str], mapped_headers: Iterable[str] = ()) -> CorsPolicy:
        entries = [o for o in cors_origins if o.strip()]
        origins = OriginAllowList.parse(entries, what="CORS origin") if entries else None
        if origins is not None and origins.any_port:
            raise ValueError("CORS origins must be exact (scheme://host[:port]) or *; wildcard ports are not allowed")
        allow_headers = ", ".join(dict.fromkeys((*ALLOW_HEADERS, *mapped_headers)))
        vary = (b"vary", b"Origin")
        preflight = (
            (b"access-control-allow-methods", ALLOW_METHODS.encode("ascii")),
            (b"access-control-allow-headers", allow_headers.encode("ascii")),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode("ascii")),
            vary,
        )
        response = ((b"access-control-expose-headers", EXPOSE_HEADERS.encode("ascii")), vary)
        return cls(origins=origins, preflight_headers=preflight, response_headers=response)

    def __bool__(self) -> bool:
        return self.origins is not None

    def allows(self, origin: str) -> bool:
        return self.origins is not None and self.origins.allows(origin)

    def headers_for(self, origin: bytes, preflight: bool = False) -> Headers:
        """The CORS headers of an answer to an allowed `origin`."""
        extra = self.preflight_headers if preflight else self.response_headers
        return ((b"access-control-allow-origin", origin), *extra)
