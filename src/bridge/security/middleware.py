"""The ASGI middleware that checks every request before the bridge sees it.

In order: Host (421), Origin (403), CORS preflight (204, or 403 for an origin without CORS),
bearer auth (401 with `WWW-Authenticate`). Probe paths skip all four. A request that passes gets
`scope["state"]["credential_id"]` (None when auth is off) for binding sessions, and, from a trusted
proxy, the forwarded client address and scheme in `scope["client"]` / `scope["scheme"]`.
Answers to CORS-allowed origins get the CORS headers, refusals included, so a browser client can
read why it was refused.

Run uvicorn with `proxy_headers=False`: this layer decides which proxies to believe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.security.errors import Refusal, www_authenticate
from bridge.security.policy import SecurityPolicy
from bridge.security.proxies import ForwardedHeaders
from bridge.security.tokens import TokenStore

log = logging.getLogger(__name__)

CREDENTIAL_ID = "credential_id"

_WANTED = frozenset({
    b"host", b"origin", b"authorization", b"access-control-request-method",
    b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto",
})
_FORWARDING = (b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto")

_MISSING_TOKEN = Refusal.of(
    401, "authentication required: send Authorization: Bearer <token>", (www_authenticate(),)
)
_BAD_TOKEN = Refusal.of(401, "the bearer token is not valid", (www_authenticate("invalid_token"),))
_REASONS = {401: "unauthorized", 403: "origin_not_allowed", 421: "host_not_allowed"}
_NO_CORS = Refusal.of(403, "cross-origin requests are not enabled for this origin")


def _wanted_headers(scope: Scope) -> dict[bytes, bytes]:
    """The request headers this layer reads, repeated lines joined with commas, in one pass."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _WANTED:
            found[name] = found[name] + b"," + value if name in found else value
    return found


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def bearer_token(authorization: bytes) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None for any other scheme."""
    scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _authenticate(tokens: TokenStore, authorization: bytes | None) -> tuple[Refusal | None, str | None]:
    """(refusal, None) or (None, credential id)."""
    token = bearer_token(authorization) if authorization is not None else None
    if token is None:
        return _MISSING_TOKEN, None
    credential = tokens.authenticate(token)
    return (_BAD_TOKEN, None) if credential is None else (None, credential)


class SecurityMiddleware:
    """Wraps the whole bridge app: `SecurityMiddleware(app, build_policy(...))`."""

    def __init__(
        self, app: ASGIApp, policy: SecurityPolicy, on_refusal: Callable[[int, str], None] | None = None
    ) -> None:
        self.app = app
        self.policy = policy
        self.on_refusal = on_refusal  # told (status, reason) of every refusal, e.g. to count it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        policy = self.policy
        headers = _wanted_headers(scope)
        host = self._apply_proxy(scope, headers) if policy.proxies else headers.get(b"host")
        origin = headers.get(b"origin")
        cors = policy.cors.headers_for(origin) if origin and policy.cors.allows(origin.decode("latin-1")) else ()
        credential: str | None = None
        if scope["path"] not in policy.probe_paths:
            preflight = (scope["type"] == "http" and scope["method"] == "OPTIONS" and origin is not None
                         and b"access-control-request-method" in headers)
            refusal = self._check_host_origin(host, origin, bool(cors))
            if refusal is None and preflight:
                if not cors:
                    self._count(_NO_CORS, "cors_not_enabled")
                await self._preflight(send, origin or b"", bool(cors))
                return
            if refusal is None and policy.tokens is not None:
                refusal, credential = _authenticate(policy.tokens, headers.get(b"authorization"))
            if refusal is not None:
                log.info("refused %s %s: %d", scope.get("method", "WEBSOCKET"), scope["path"], refusal.status)
                self._count(refusal, _REASONS.get(refusal.status, "refused"))
                await self._refuse(scope, send, refusal, cors)
                return

        state = dict(scope.get("state") or {})
        state[CREDENTIAL_ID] = credential
        scope["state"] = state
        if not cors:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _count(self, refusal: Refusal, reason: str) -> None:
        if self.on_refusal is not None:
            self.on_refusal(refusal.status, reason)

    def _apply_proxy(self, scope: Scope, headers: dict[bytes, bytes]) -> bytes | None:
        """The Host to check; a trusted proxy's forwarded host, client and scheme replace the peer's."""
        host = headers.get(b"host")
        if not any(name in headers for name in _FORWARDING):
            return host
        client = scope.get("client")
        hop = self.policy.proxies.resolve(client[0] if client else None, ForwardedHeaders(
            forwarded=_text(headers.get(b"forwarded")),
            x_forwarded_for=_text(headers.get(b"x-forwarded-for")),
            x_forwarded_host=_text(headers.get(b"x-forwarded-host")),
            x_forwarded_proto=_text(headers.get(b"x-forwarded-proto")),
        ))
        if hop is None:
            return host
        if hop.for_:
            scope["client"] = (hop.for_, 0)
        if hop.proto:
            scope["scheme"] = hop.proto if scope["type"] == "http" else hop.proto.replace("http", "ws")
        return hop.host.encode("latin-1") if hop.host else host

    def _check_host_origin(self, host: bytes | None, origin: bytes | None, cors: bool) -> Refusal | None:
        if host is None or not self.policy.hosts.allows(host.decode("latin-1")):
            shown = "(none)" if host is None else repr(host.decode("latin-1"))
            return Refusal.of(421, f"Host {shown} is not allowed here (DNS rebinding protection); "
                                   "the operator can add it with --allowed-host")
        if origin is not None and not cors and not self.policy.origins.allows(origin.decode("latin-1")):
            return Refusal.of(403, f"Origin {origin.decode('latin-1')!r} is not allowed; "
                                   "the operator can add it with --allowed-origin")
        return None

    async def _preflight(self, send: Send, origin: bytes, cors: bool) -> None:
        if not cors:
            await _NO_CORS.send(send)
            return
        headers = list(self.policy.cors.headers_for(origin, preflight=True))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _refuse(scope: Scope, send: Send, refusal: Refusal, cors: tuple[tuple[bytes, bytes], ...]) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await refusal.send(send, cors)
