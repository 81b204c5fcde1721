"""The bridge's security settings checked once at start-up and compiled into the objects the
request path uses.

`build_policy` reads the security fields of `bridge.config.Settings` and reports every problem at
once, one per line, in words an operator can act on. Rules: with no token and no `auth_disabled`,
serving a non-loopback address is refused; on loopback auth is then off. On a non-loopback
address every token must be at least 16 characters and no placeholder from an example file. `auth_disabled` together
with tokens is a contradiction, also refused. `allowed_hosts` and `allowed_origins` add to the
defaults (loopback names with any port, the bind host, the public base URL); `*` allows everything;
`cors_origins` are also allowed origins.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from bridge.config import Settings
from bridge.security.cors import CorsPolicy
from bridge.security.header_env import HeaderEnv
from bridge.security.hosts import HostAllowList, OriginAllowList
from bridge.security.proxies import TrustedProxies
from bridge.security.tokens import TokenFileError, TokenStore, check_strength, check_token, read_token_file

# Probes answer orchestrators and monitoring: no auth, no Origin check, and no Host check either,
# because probes address the bridge by a pod or container IP that no allow-list knows. They hold no
# secret and change nothing.
PROBE_PATHS = frozenset({"/healthz", "/health", "/readyz", "/drainz", "/metrics"})

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
DEFAULT_PORTS = {"http": 80, "https": 443}


class SecurityConfigError(ValueError):
    """The security options cannot be used; the message lists every problem, one per line."""


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    """Everything the middleware and the transports need, built once."""

    hosts: HostAllowList
    origins: OriginAllowList
    cors: CorsPolicy
    proxies: TrustedProxies
    tokens: TokenStore | None
    header_env: HeaderEnv
    probe_paths: frozenset[str] = PROBE_PATHS
    # Where a GET opens an event stream (the SSE and MCP paths): it must accept text/event-stream.
    stream_paths: frozenset[str] = frozenset({"/sse", "/mcp"})

    @property
    def auth_enabled(self) -> bool:
        return self.tokens is not None

    def describe(self) -> str:
        """One line for the start-up log; counts only, never a token."""
        auth = f"bearer tokens ({self.tokens.count} accepted now)" if self.tokens is not None else "off"
        mapped = ", ".join(f"{m.header}->{m.var}" for m in self.header_env.mappings) or "none"
        return (
            f"auth: {auth}; trusted proxies: {len(self.proxies.networks)}; "
            f"CORS: {'on' if self.cors else 'off'}; header-env: {mapped} (missing: {self.header_env.missing})"
        )


def is_loopback(host: str) -> bool:
    """Whether binding `host` serves this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _bind_host_pattern(bind_host: str) -> list[str]:
    name = bind_host.strip().strip("[]")
    try:
        if ipaddress.ip_address(name).is_unspecified:
            return []  # 0.0.0.0 / :: is no name a client can use
    except ValueError:
        pass
    return [f"{_bracketed(name.lower())}:*"] if name else []


def _public_patterns(public_base_url: str) -> tuple[list[str], list[str]]:
    """(host patterns, origin patterns) for the public base URL ("" for none); raises ValueError if it is bad."""
    if not public_base_url:
        return [], []
    problem = f"public base URL {public_base_url!r} must be an absolute http(s) URL with a valid port"
    try:
        parts = urlsplit(public_base_url)
        port = parts.port
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(problem)
    name = _bracketed(parts.hostname.lower())
    origin = f"{parts.scheme}://{name}" + (f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else "")
    return [f"{name}:*"], [origin]


T = TypeVar("T")


def _collect(problems: list[str], build: Callable[[], T]) -> T | None:
    """`build()`, or None with its ValueError's message added to `problems`."""
    try:
        return build()
    except ValueError as exc:
        problems.append(str(exc))
        return None


def _auth(settings: Settings, interval: float, problems: list[str]) -> TokenStore | None:
    """The token store, or None when auth is off (and allowed to be)."""
    has_tokens = bool(settings.auth_tokens) or settings.auth_token_file is not None
    if settings.auth_disabled:
        if has_tokens:
            problems.append("auth is disabled but auth tokens are configured: drop one or the other")
        return None
    if not has_tokens:
        if not is_loopback(settings.host):
            problems.append(
                f"refusing to serve {settings.host} without authentication: give --auth-token or "
                "--auth-token-file (BRIDGE_AUTH_TOKENS), or pass --auth-disabled when something in "
                "front of the bridge authenticates clients"
            )
        return None
    before = len(problems)
    for number, token in enumerate(settings.auth_tokens, start=1):
        _collect(problems, lambda: check_token(token, f"auth token #{number}"))  # noqa: B023 - called now
    if len(problems) > before:
        return None
    try:
        store = TokenStore(settings.auth_tokens, settings.auth_token_file, check_interval=interval)
    except TokenFileError as exc:
        problems.append(str(exc))
        return None
    if not is_loopback(settings.host):  # the token is all that guards the address
        for number, token in enumerate(settings.auth_tokens, start=1):
            _collect(problems, lambda: check_strength(token, f"auth token #{number}"))  # noqa: B023 - called now
        if settings.auth_token_file is not None:
            for number, token in enumerate(read_token_file(settings.auth_token_file), start=1):
                _collect(problems, lambda: check_strength(
                    token, f"token #{number} of {str(settings.auth_token_file)!r}"))  # noqa: B023
    return store


def build_policy(
    settings: Settings,
    *,
    probe_paths: frozenset[str] = PROBE_PATHS,
    token_check_interval: float = 1.0,
) -> SecurityPolicy:
    """The security layer for a bridge bound to `settings.host`; raises SecurityConfigError."""
    problems: list[str] = []
    public_hosts, public_origins = _collect(problems, lambda: _public_patterns(settings.base_url)) or ([], [])

    hosts = _collect(problems, lambda: HostAllowList.parse(
        [*LOOPBACK_HOSTS, *_bind_host_pattern(settings.host), *public_hosts, *settings.allowed_hosts]))
    header_env = _collect(problems, lambda: HeaderEnv.parse(settings.header_env, settings.header_env_missing))
    cors = _collect(problems, lambda: CorsPolicy.build(
        settings.cors_origins, header_env.header_names if header_env else ()))
    origins = _collect(problems, lambda: OriginAllowList.parse(
        [*LOOPBACK_ORIGINS, *public_origins, *settings.allowed_origins, *(settings.cors_origins if cors else ())]))
    proxies = _collect(problems, lambda: TrustedProxies.parse(settings.trusted_proxies))
    tokens = _auth(settings, token_check_interval, problems)
    if tokens is not None and header_env is not None and "authorization" in {m.key for m in header_env.mappings}:
        problems.append("header-env maps Authorization, but that header carries the bridge's own bearer "
                        "token when auth is on; map another header")

    if problems or hosts is None or origins is None or cors is None or proxies is None or header_env is None:
        raise SecurityConfigError("\n".join(problems))
    return SecurityPolicy(hosts=hosts, origins=origins, cors=cors, proxies=proxies, tokens=tokens,
                          header_env=header_env, probe_paths=probe_paths,
                          stream_paths=frozenset({settings.sse_path, settings.mcp_path}))
