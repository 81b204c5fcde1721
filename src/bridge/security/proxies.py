"""Trusted reverse proxies: `Forwarded` (RFC 7239) and `X-Forwarded-*`, only from known peers.

A proxy appends one hop per request it passes on. Walking the hops from the right (the one our
direct peer wrote) past every address that is itself a trusted proxy reaches the hop written by the
outermost trusted proxy: its `for` is the client, its `host` and `proto` are what the client asked
for. `X-Forwarded-For` is walked the same way; `X-Forwarded-Host` and `X-Forwarded-Proto` carry no
per-hop alignment, so their last value (set by our direct, trusted peer) is used.

One header family per request: when a trusted peer's request carries a non-empty `Forwarded`, only
`Forwarded` is believed (its hop's `for`, `host` and `proto`; a parameter it lacks is not taken from
`X-Forwarded-*`, and one it cannot parse overrides nothing); `X-Forwarded-*` are read only when there
is no `Forwarded`. A proxy in front of the bridge must therefore set or clear every header of both
families: a client's own `Forwarded`, passed on by a proxy that only sets `X-Forwarded-*`, would
win (deploy/nginx and deploy/haproxy clear it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PROTOS = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class Hop:
    """One proxy hop: whom it served (`for`), and the host and scheme that peer asked for."""

    for_: str | None = None
    host: str | None = None
    proto: str | None = None


@dataclass(frozen=True, slots=True)
class ForwardedHeaders:
    """The raw proxy headers of one request (several header lines already joined by commas)."""

    forwarded: str | None = None
    x_forwarded_for: str | None = None
    x_forwarded_host: str | None = None
    x_forwarded_proto: str | None = None


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    start, quoted = 0, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def node_address(node: str) -> str | None:
    """The IP address in a `for=` node or an `X-Forwarded-For` item (`1.2.3.4:80`, `[::1]:80`)."""
    node = node.strip()
    if node.startswith("["):
        end = node.find("]")
        node = node[1:end] if end > 0 else ""
    elif node.count(":") == 1:
        node = node.partition(":")[0]
    try:
        return str(ipaddress.ip_address(node))
    except ValueError:
        return None  # "unknown", an obfuscated `_name`, or garbage


def parse_forwarded(value: str) -> list[Hop]:
    """RFC 7239 `Forwarded` elements, in order; unknown parameters are ignored."""
    hops: list[Hop] = []
    for element in _split_outside_quotes(value, ","):
        fields: dict[str, str] = {}
        for pair in _split_outside_quotes(element, ";"):
            key, eq, raw = pair.partition("=")
            if eq:
                fields[key.strip().lower()] = _unquote(raw)
        if fields:
            hops.append(Hop(for_=fields.get("for"), host=fields.get("host"), proto=fields.get("proto")))
    return hops


def _last_item(value: str | None) -> str | None:
    if value is None:
        return None
    item = value.rpartition(",")[2].strip()
    return item or None


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The peers whose forwarding headers are believed. Empty: none are."""

    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        networks: list[Network] = []
        for raw in entries:
            try:
                networks.append(ipaddress.ip_network(raw.strip(), strict=False))
            except ValueError:
                raise ValueError(f"trusted proxy {raw!r} is not an IP address or CIDR network") from None
        return cls(networks=tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)

    def _outermost(self, hops: list[Hop]) -> Hop | None:
        for index in range(len(hops) - 1, -1, -1):
            if index == 0 or not self.trusts(node_address(hops[index].for_ or "")):
                return hops[index]
        return None

    def resolve(self, peer: str | None, headers: ForwardedHeaders) -> Hop | None:
        """What the client asked for, per the proxies; None when `peer` is not trusted."""
        if not self.trusts(peer):
            return None
        if headers.forwarded is not None and headers.forwarded.strip():
            hop = self._outermost(parse_forwarded(headers.forwarded))
            if hop is None:
                return Hop()  # a Forwarded that says nothing usable: nothing is overridden
            return Hop(for_=node_address(hop.for_ or ""), host=hop.host or None, proto=_proto(hop.proto))
        client = None
        if headers.x_forwarded_for:
            xff = self._outermost([Hop(for_=item) for item in headers.x_forwarded_for.split(",")])
            client = node_address(xff.for_ or "") if xff is not None else None
        host = _last_item(headers.x_forwarded_host)
        return Hop(for_=client, host=host, proto=_proto(_last_item(headers.x_forwarded_proto)))


def _proto(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    return value if value in PROTOS else None
