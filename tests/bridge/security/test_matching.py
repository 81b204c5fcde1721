"""Host / Origin patterns and forwarded-header parsing, including arbitrary input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.security.hosts import HostAllowList, OriginAllowList, split_host_port
from bridge.security.proxies import ForwardedHeaders, Hop, TrustedProxies, node_address, parse_forwarded


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:80", ("example.com", "80")),
        ("[::1]", ("[::1]", None)),
        ("[::1]:8080", ("[::1]", "8080")),
        ("[::1", None),
        ("[::1]x", None),
        ("::1", None),
    ],
)
def test_split_host_port(authority: str, expected: tuple[str, str | None] | None) -> None:
    assert split_host_port(authority) == expected


def test_host_patterns() -> None:
    hosts = HostAllowList.parse(["a.example", "b.example:8080", "c.example:*", "[2001:db8::1]:*", "10.0.0.1:9"])
    for ok in ("a.example", "A.EXAMPLE", "b.example:8080", "c.example", "c.example:1", "[2001:db8::1]:443",
               "10.0.0.1:9"):
        assert hosts.allows(ok), ok
    for bad in ("a.example:80", "b.example", "b.example:8081", "x.c.example", "c.example.evil", "10.0.0.1",
                "", ":", "[2001:db8::2]:443"):
        assert not hosts.allows(bad), bad


@pytest.mark.parametrize("pattern", ["http://x", "x/y", "user@x", "x:port", "x:0", "x:65536", "-x", "[zz]"])
def test_bad_host_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match="allowed host"):
        HostAllowList.parse([pattern])


def test_origin_patterns() -> None:
    origins = OriginAllowList.parse(["https://app.example", "http://localhost:*", "https://x.example:8443/"])
    for ok in ("https://app.example", "HTTPS://APP.EXAMPLE", "http://localhost", "http://localhost:1234",
               "https://x.example:8443"):
        assert origins.allows(ok), ok
    for bad in ("http://app.example", "https://app.example:444", "https://localhost:1234", "null", "",
                "https://app.example/path", "app.example"):
        assert not origins.allows(bad), bad


@pytest.mark.parametrize("pattern", ["app.example", "https://app.example/path", "://x", "1http://x"])
def test_bad_origin_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match="allowed origin"):
        OriginAllowList.parse([pattern])


@given(st.text(max_size=60))
def test_matchers_never_raise_on_arbitrary_input(text: str) -> None:
    hosts = HostAllowList.parse(["localhost:*", "a.example"])
    origins = OriginAllowList.parse(["http://localhost:*", "https://a.example"])
    assert isinstance(hosts.allows(text), bool)
    assert isinstance(origins.allows(text), bool)
    proxies = TrustedProxies.parse(["127.0.0.1"])
    proxies.resolve("127.0.0.1", ForwardedHeaders(forwarded=text, x_forwarded_for=text,
                                                  x_forwarded_host=text, x_forwarded_proto=text))


def test_parse_forwarded() -> None:
    hops = parse_forwarded('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711";Host="a,b"')
    assert hops == [Hop(for_="192.0.2.60", proto="http"), Hop(for_="[2001:db8:cafe::17]:4711", host="a,b")]


@pytest.mark.parametrize(
    ("node", "address"),
    [("192.0.2.60", "192.0.2.60"), ("192.0.2.60:80", "192.0.2.60"), ("[2001:db8::17]:4711", "2001:db8::17"),
     ("2001:db8::17", "2001:db8::17"), ("unknown", None), ("_hidden", None), ("", None)],
)
def test_node_address(node: str, address: str | None) -> None:
    assert node_address(node) == address


def test_untrusted_peer_gets_nothing_from_its_headers() -> None:
    proxies = TrustedProxies.parse(["10.0.0.0/8"])
    headers = ForwardedHeaders(forwarded="for=1.2.3.4;host=evil", x_forwarded_host="evil")
    assert proxies.resolve("192.168.0.1", headers) is None
    assert proxies.resolve(None, headers) is None
    assert TrustedProxies.parse([]).resolve("10.0.0.1", headers) is None


def test_walk_stops_at_the_first_untrusted_hop_from_the_right() -> None:
    proxies = TrustedProxies.parse(["10.0.0.0/8"])
    # A client forged the first element; the trusted proxies appended the rest.
    forwarded = "for=6.6.6.6;host=forged, for=198.51.100.9;host=public.example;proto=https, for=10.0.0.2;host=inner"
    hop = proxies.resolve("10.0.0.1", ForwardedHeaders(forwarded=forwarded))
    assert hop == Hop(for_="198.51.100.9", host="public.example", proto="https")
    xff = proxies.resolve("10.0.0.1", ForwardedHeaders(x_forwarded_for="6.6.6.6, 198.51.100.9, 10.0.0.2",
                                                       x_forwarded_host="a, public.example",
                                                       x_forwarded_proto="gopher"))
    assert xff == Hop(for_="198.51.100.9", host="public.example", proto=None)


def test_ipv4_mapped_peer_is_matched_as_ipv4() -> None:
    assert TrustedProxies.parse(["127.0.0.1"]).trusts("::ffff:127.0.0.1")
    assert not TrustedProxies.parse(["127.0.0.1"]).trusts("not-an-ip")


def test_bad_trusted_proxy() -> None:
    with pytest.raises(ValueError, match="trusted proxy 'x' is not an IP"):
        TrustedProxies.parse(["x"])
