"""Allow-lists for the `Host` and `Origin` request headers, with wildcard ports.

Patterns are parsed once into sets; a request costs one set lookup, two when the port is a
wildcard. Names are compared lower-case; IPv6 literals keep their brackets (`[::1]:8080`).

Host patterns: `*` (anything), `name`, `name:port`, `name:*` (any port, or none).
Origin patterns: `*`, `scheme://name`, `scheme://name:port`, `scheme://name:*`.
A pattern without a port matches only a request without a port (a browser omits the default port).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

WILDCARD = "*"

_NAME = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\])$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")


def split_host_port(authority: str) -> tuple[str, str | None] | None:
    """`name[:port]` (already lower-case) as (name, port or None); None when malformed."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        name, rest = authority[: end + 1], authority[end + 1 :]
        if not rest:
            return name, None
        return (name, rest[1:]) if rest[0] == ":" else None
    name, colon, port = authority.rpartition(":")
    if not colon:
        return authority, None
    if ":" in name:  # an IPv6 address without brackets is not a valid authority
        return None
    return name, port


def _parse_authority(text: str, what: str) -> tuple[str, str | None]:
    """A configured `name[:port|:*]`, validated; raises ValueError naming the pattern."""
    parts = split_host_port(text)
    if parts is None or not _NAME.match(parts[0]):
        raise ValueError(f"{what} {text!r} is not a host name or IP address with an optional :port or :*")
    name, port = parts
    if port is not None and port != WILDCARD and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{what} {text!r} has a bad port (use a number from 1 to 65535, or *)")
    return name, port


@dataclass(frozen=True, slots=True)
class HostAllowList:
    """Which `Host` header values (or trusted forwarded hosts) the bridge answers to."""

    allow_all: bool
    exact: frozenset[str]
    any_port: frozenset[str]

    @classmethod
    def parse(cls, patterns: Iterable[str]) -> HostAllowList:
        exact: set[str] = set()
        any_port: set[str] = set()
        allow_all = False
        for raw in patterns:
            text = raw.strip().lower()
            if text == WILDCARD:
                allow_all = True
                continue
            if "/" in text or "@" in text:
                raise ValueError(f"allowed host {raw!r} must be a host[:port], not a URL")
            name, port = _parse_authority(text, "allowed host")
            if port == WILDCARD:
                any_port.add(name)
            else:
                exact.add(text)
        return cls(allow_all=allow_all, exact=frozenset(exact), any_port=frozenset(any_port))

    def allows(self, authority: str) -> bool:
        if self.allow_all:
            return True
        value = authority.lower()
        if value in self.exact:
            return True
        parts = split_host_port(value)
        return parts is not None and parts[0] in self.any_port


def split_origin(origin: str) -> tuple[str, str] | None:
    """`scheme://authority` (lower-case) as (scheme, authority); None when not that shape."""
    scheme, sep, authority = origin.partition("://")
    if not sep or not authority or "/" in authority:
        return None
    return scheme, authority


@dataclass(frozen=True, slots=True)
class OriginAllowList:
    """Which `Origin` header values may use the bridge (a request without `Origin` always may)."""

    allow_all: bool
    exact: frozenset[str]
    any_port: frozenset[str]

    @classmethod
    def parse(cls, patterns: Iterable[str], what: str = "allowed origin") -> OriginAllowList:
        exact: set[str] = set()
        any_port: set[str] = set()
        allow_all = False
        for raw in patterns:
            text = raw.strip().lower().rstrip("/")
            if text == WILDCARD:
                allow_all = True
                continue
            parts = split_origin(text)
            if parts is None or not _SCHEME.match(parts[0]):
                raise ValueError(f"{what} {raw!r} must look like scheme://host[:port], with no path")
            name, port = _parse_authority(parts[1], what)
            if port == WILDCARD:
                any_port.add(f"{parts[0]}://{name}")
            else:
                exact.add(text)
        return cls(allow_all=allow_all, exact=frozenset(exact), any_port=frozenset(any_port))

    def allows(self, origin: str) -> bool:
        if self.allow_all:
            return True
        value = origin.lower()
        if value in self.exact:
            return True
        parts = split_origin(value)
        if parts is None:
            return False
        host = split_host_port(parts[1])
        return host is not None and f"{parts[0]}://{host[0]}" in self.any_port
