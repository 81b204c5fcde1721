"""The ASGI middleware that checks every request before the bridge sees it.

In order: Host (421), Origin (403), browser requests that cannot be an MCP client (403, see
`browser_refusal`), CORS preflight (204, or 403 for an origin without CORS), bearer auth (401 with
`WWW-Authenticate`), and a `GET` on the SSE or MCP path that does not accept `text/event-stream`
(406). Probe paths skip them all; all of it happens before any session or child exists. A request
that passes gets `scope["state"]["credential_id"]` (None when auth is off) for binding sessions,
and, from a trusted proxy, the forwarded client address and scheme in `scope["client"]` /
`scope["scheme"]`.
Answers to CORS-allowed origins get the CORS headers, refusals included, so a browser client can
read why it was refused. Every refusal is an `HttpError`, handed to `on_error` (to count it) before
it is sent. The request headers are parsed once, into the `Headers` kept in the scope, which the
transports behind this layer read again.

Run uvicorn with `proxy_headers=False`: this layer decides which proxies to believe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp

from bridge.http import SSE_TYPE, Headers, HttpError, Message, Receive, Scope, Send, accepts
from bridge.security.policy import SecurityPolicy
from bridge.security.proxies import ForwardedHeaders
from bridge.security.tokens import TokenStore, www_authenticate

log = logging.getLogger(__name__)

CREDENTIAL_ID = "credential_id"

_FORWARDING = (b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto")


# Fetch metadata (W3C Fetch Metadata Request Headers): what a browser says a request is for. A
# browser MCP client is fetch() or EventSource: destination `empty`, mode `cors` or `same-origin`.
_CLIENT_MODES = frozenset({b"cors", b"same-origin"})
BROWSER_NOT_MCP = "browser_not_mcp"


def browser_refusal(headers: Headers, cors_allowed: bool) -> HttpError | None:
    """403 for a browser request that cannot be an MCP client, else None.

    Browsers send `Sec-Fetch-*` (to https and loopback URLs); other clients send none, and pass.
    Refused: a `Sec-Fetch-Dest` other than `empty` (an <img>, <iframe>, document, script, style,
    worker...); a `Sec-Fetch-Mode` other than `cors` / `same-origin` (`navigate`, `no-cors`,
    `websocket`: a page that can never read the answer); and a request from another origin
    (`Sec-Fetch-Site` `same-site`, `cross-site` or `none`) without an `Origin` allowed by
    `--cors-origin`, since the browser would hide the answer from the page anyway.
    """
    site = headers.get(b"sec-fetch-site")
    dest = headers.get(b"sec-fetch-dest")
    mode = headers.get(b"sec-fetch-mode")
    if site is None and dest is None and mode is None:
        return None
    if dest is not None and dest.lower() != b"empty":
        why = f"Sec-Fetch-Dest: {dest.decode('latin-1')[:40]}"
    elif mode is not None and mode.lower() not in _CLIENT_MODES:
        why = f"Sec-Fetch-Mode: {mode.decode('latin-1')[:40]}"
    elif site is not None and site.lower() != b"same-origin" and not cors_allowed:
        why = "from another origin, not one allowed with --cors-origin"
    else:
        return None
    return HttpError(403, f"Forbidden: this browser request cannot be an MCP client ({why}); a browser client "
                          "uses fetch() or EventSource from an origin the operator allows with --cors-origin",
                     reason=BROWSER_NOT_MCP)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def bearer_token(authorization: bytes) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None for any other scheme."""
    scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _authenticate(tokens: TokenStore, authorization: bytes | None) -> tuple[HttpError | None, str | None]:
    """(refusal, None) or (None, credential id)."""
    token = bearer_token(authorization) if authorization is not None else None
    if token is None:
        return HttpError(401, "authentication required: send Authorization: Bearer <token>",
                         headers=[www_authenticate()]), None
    credential = tokens.authenticate(token)
    if credential is None:
        return HttpError(401, "the bearer token is not valid", headers=[www_authenticate("invalid_token")]), None
    return None, credential


class SecurityMiddleware:
    """Wraps the whole bridge app: `SecurityMiddleware(app, build_policy(settings), on_error=...)`."""

    def __init__(
        self, app: ASGIApp, policy: SecurityPolicy, on_error: Callable[[HttpError], None] | None = None
    ) -> None:
        self.app = app
        self.policy = policy
        self.on_error = on_error  # told of every refusal, e.g. to count it by status and reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        policy = self.policy
        headers = Headers.of(scope)
        host = self._apply_proxy(scope, headers) if policy.proxies else headers.get(b"host")
        origin = headers.get(b"origin")
        cors = policy.cors.headers_for(origin) if origin and policy.cors.allows(origin.decode("latin-1")) else ()
        credential: str | None = None
        if scope["path"] not in policy.probe_paths:
            error = self._check_host_origin(host, origin, bool(cors))
            if error is None:
                error = browser_refusal(headers, bool(cors))
            if error is None and origin is not None and self._is_preflight(scope, headers):
                if cors:
                    await self._preflight(send, origin)
                    return
                error = HttpError(403, "cross-origin requests are not enabled for this origin",
                                  reason="cors_not_enabled")
            if error is None and policy.tokens is not None:
                error, credential = _authenticate(policy.tokens, headers.get(b"authorization"))
            if (error is None and scope["type"] == "http" and scope["method"] == "GET"
                    and scope["path"] in policy.stream_paths and not accepts(headers.get(b"accept") or b"", SSE_TYPE)):
                error = HttpError(406, "Not Acceptable: Accept must list text/event-stream")
            if error is not None:
                await self._refuse(scope, send, error, cors)
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

    @staticmethod
    def _is_preflight(scope: Scope, headers: Headers) -> bool:
        return (scope["type"] == "http" and scope["method"] == "OPTIONS"
                and b"access-control-request-method" in headers)

    def _apply_proxy(self, scope: Scope, headers: Headers) -> bytes | None:
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

    def _check_host_origin(self, host: bytes | None, origin: bytes | None, cors: bool) -> HttpError | None:
        if host is None or not self.policy.hosts.allows(host.decode("latin-1")):
            shown = "(none)" if host is None else repr(host.decode("latin-1"))
            return HttpError(421, f"Host {shown} is not allowed here (DNS rebinding protection); "
                                  "the operator can add it with --allowed-host")
        if origin is not None and not cors and not self.policy.origins.allows(origin.decode("latin-1")):
            return HttpError(403, f"Origin {origin.decode('latin-1')!r} is not allowed; "
                                  "the operator can add it with --allowed-origin")
        return None

    async def _preflight(self, send: Send, origin: bytes) -> None:
        # No content-length: a 204 carries none (RFC 9110 8.6).
        headers = list(self.policy.cors.headers_for(origin, preflight=True))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(self, scope: Scope, send: Send, error: HttpError,
                      cors: tuple[tuple[bytes, bytes], ...]) -> None:
        log.info("refused %s %s: %d", scope.get("method", "WEBSOCKET"), scope["path"], error.status)
        if self.on_error is not None:
            self.on_error(error)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await error.send(send, cors)
