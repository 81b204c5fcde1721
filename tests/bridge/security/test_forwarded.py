"""Forwarded headers: one family per request from a trusted proxy (`Forwarded` alone when present),
and the shipped proxy configurations set or clear every header of both families, so a client's own
copy never wins: checked in the files, and through a real nginx (bridge.conf) and a real HAProxy
(haproxy.cfg) in front of a real bridge."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.config import Settings
from bridge.security.proxies import ForwardedHeaders, Hop, TrustedProxies
from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import HEADERS, INIT_PARAMS, request
from tests.support.procs import Started, free_port, start_server

from .conftest import Serve

ROOT = Path(__file__).resolve().parents[3]
BRIDGE_CONF = ROOT / "deploy" / "nginx" / "bridge.conf"
REPLICAS_CONF = ROOT / "deploy" / "nginx" / "replicas.conf"
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
FAMILY = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto")
SPOOFED = {"Forwarded": "for=198.51.100.66;host=evil.example;proto=http",
           "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "gopher", "X-Forwarded-For": "198.51.100.66"}
PROXY = TrustedProxies.parse(["127.0.0.1"])


# --- the bridge's rule -------------------------------------------------------------------------


def test_forwarded_alone_is_believed_when_present() -> None:
    both = ForwardedHeaders(forwarded="for=203.0.113.7;proto=https", x_forwarded_for="198.51.100.66",
                            x_forwarded_host="evil.example", x_forwarded_proto="http")
    # no host in Forwarded: the request's own Host stands, X-Forwarded-Host is not consulted
    assert PROXY.resolve("127.0.0.1", both) == Hop(for_="203.0.113.7", host=None, proto="https")
    garbage = ForwardedHeaders(forwarded="nonsense", x_forwarded_for="198.51.100.66", x_forwarded_host="evil.example")
    assert PROXY.resolve("127.0.0.1", garbage) == Hop()  # says nothing usable: overrides nothing
    empty = ForwardedHeaders(forwarded=" ", x_forwarded_for="203.0.113.7", x_forwarded_host="public.example")
    assert PROXY.resolve("127.0.0.1", empty) == Hop(for_="203.0.113.7", host="public.example", proto=None)


def test_a_clients_own_values_before_the_proxys_never_win() -> None:
    """A proxy that appends (Forwarded elements, X-Forwarded-For items, repeated X-Forwarded-Host
    lines joined) leaves the client's own values on the left: the bridge takes the proxy's."""
    appended = ForwardedHeaders(forwarded='for=198.51.100.66;host=evil.example, for=203.0.113.7;host="public.example"')
    assert PROXY.resolve("127.0.0.1", appended) == Hop(for_="203.0.113.7", host="public.example", proto=None)
    x_family = ForwardedHeaders(x_forwarded_for="198.51.100.66, 203.0.113.7", x_forwarded_host="evil.example, public.example",
                                x_forwarded_proto="http, https")
    assert PROXY.resolve("127.0.0.1", x_family) == Hop(for_="203.0.113.7", host="public.example", proto="https")


@pytest.mark.anyio
async def test_through_a_trusted_peer_forwarded_decides_the_host_checked(serve: Serve) -> None:
    settings = Settings(trusted_proxies=("127.0.0.1",), allowed_hosts=("public.example",))
    async with serve(settings) as client:
        # the proxy's X-Forwarded-Host is public.example, but a Forwarded header is what counts ...
        both = await client.get("/mcp", headers={"X-Forwarded-Host": "public.example", "Forwarded": "host=evil.example"})
        assert both.status_code == 421 and "evil.example" in both.json()["error"]["message"]
        # ... which is why a proxy must clear the client's: with it gone, the proxy's host stands
        cleared = await client.get("/mcp", headers={"X-Forwarded-Host": "public.example", "X-Forwarded-For": "203.0.113.7"})
        assert cleared.status_code == 200 and cleared.json()["client"] == "203.0.113.7"
        appended = await client.get("/mcp", headers={"Forwarded": "host=evil.example, for=203.0.113.8;host=public.example"})
        assert appended.status_code == 200 and appended.json()["client"] == "203.0.113.8"


# --- the shipped configurations -----------------------------------------------------------------


def nginx_headers(path: Path) -> dict[str, str]:
    text = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    found = re.findall(r'^\s*proxy_set_header\s+(\S+)\s+("[^"]*"|\S+);', text, re.MULTILINE)
    assert len({name.lower() for name, _ in found}) == len(found), f"{path.name}: a header set twice"
    return {name.lower(): value for name, value in found}


@pytest.mark.parametrize("path", [BRIDGE_CONF, REPLICAS_CONF], ids=lambda p: p.name)
def test_nginx_sets_or_clears_every_forwarding_header(path: Path) -> None:
    headers = nginx_headers(path)
    assert set(FAMILY) <= set(headers), f"{path.name} leaves {set(FAMILY) - set(headers)} to the client"
    assert headers["forwarded"] == '""'  # nginx sends no header with an empty value
    assert headers["x-forwarded-host"] == "$host" and headers["x-forwarded-proto"] == "$scheme"
    assert headers["x-forwarded-for"] in ("$remote_addr", "$proxy_add_x_forwarded_for")


def test_haproxy_clears_every_forwarding_header_then_sets_its_own() -> None:
    text = re.sub(r"#.*", "", HAPROXY_CFG.read_text(encoding="utf-8"))
    for name in ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"):
        assert re.search(rf"^\s*http-request del-header {name}\s*$", text, re.MULTILINE), name
    assert re.search(r"^\s*http-request set-header X-Forwarded-Host ", text, re.MULTILINE)
    assert re.search(r"^\s*http-request set-header X-Forwarded-Proto ", text, re.MULTILINE)
    assert re.search(r"^\s*option forwardfor\s*$", text, re.MULTILINE)


# --- through the real proxies -------------------------------------------------------------------


def binary(name: str, package: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}")
                                        if Path(p).exists()), None)
    if found is None:
        pytest.fail(f"{name} is not installed: install the Debian package {package} (as .ci/run does)",
                    pytrace=False)
    return found


@contextlib.contextmanager
def nginx_bridge_conf(work: Path, bridge_port: int) -> Iterator[Started]:
    """deploy/nginx/bridge.conf with this test's ports (plain HTTP instead of TLS); nothing else changed."""
    text = BRIDGE_CONF.read_text(encoding="utf-8")
    port = free_port()
    text, listens = re.subn(r"^(\s*)listen 443 ssl;", rf"\g<1>listen 127.0.0.1:{port};", text, flags=re.M)
    text, certs = re.subn(r"^\s*ssl_certificate(?:_key)?\s[^;]*;\n", "", text, flags=re.M)
    text, upstreams = re.subn(r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{bridge_port};", text)
    assert (listens, certs, upstreams) == (1, 2, 1), "bridge.conf changed shape: update this test"
    work.mkdir()
    (work / "bridge.conf").write_text(text, encoding="utf-8")
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"    {kind}_temp_path {work / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {work / 'nginx.pid'};\nerror_log {work / 'error.log'} notice;\n"
        f"events {{\n    worker_connections 64;\n}}\nhttp {{\n{temp}    access_log off;\n"
        f"    include {work / 'bridge.conf'};\n}}\n", encoding="utf-8")
    argv = [binary("nginx", "nginx-light"), "-p", f"{work}/", "-c", str(work / "nginx.conf"),
            "-e", str(work / "error.log"), "-g", "daemon off;"]
    with start_server(argv, f"http://127.0.0.1:{port}/healthz", work / "nginx.out") as started:
        started.url = f"http://127.0.0.1:{port}"
        yield started


@contextlib.contextmanager
def haproxy_cfg(work: Path, bridge_port: int, agent_port: int) -> Iterator[Started]:
    """deploy/haproxy/haproxy.cfg as shipped, its three servers all this test's one bridge."""
    work.mkdir()
    port = free_port()
    env = {"MCP_LB_BIND": f"127.0.0.1:{port}", "MCP_LB_SOCKET": str(work / "admin.sock")}
    for name in ("R1", "R2", "R3"):
        env[f"MCP_LB_{name}"] = f"127.0.0.1:{bridge_port}"
        env[f"MCP_LB_{name}_AGENT"] = str(agent_port)
    argv = [binary("haproxy", "haproxy"), "-db", "-f", str(HAPROXY_CFG)]
    with start_server(argv, f"http://127.0.0.1:{port}/healthz", work / "haproxy.log", env=env) as started:
        started.url = f"http://127.0.0.1:{port}"
        yield started


def initialize_through(url: str, host: str) -> httpx.Response:
    """An initialize with the client's own forwarding headers; its session is ended again."""
    with httpx.Client(timeout=20, headers={**SPOOFED, "host": host}) as client:
        for _ in range(100):  # until the balancer has the bridge up
            response = client.post(url + "/mcp", json=request(0, "initialize", INIT_PARAMS), headers=HEADERS)
            if response.status_code not in (502, 503):
                break
            time.sleep(0.1)
        if "mcp-session-id" in response.headers:
            client.delete(url + "/mcp", headers={"mcp-session-id": response.headers["mcp-session-id"]})
        return response


def access_clients(log: str) -> list[str]:
    return [entry["client"] for entry in map(json.loads, (line for line in log.splitlines() if line.startswith("{")))
            if entry["logger"] == "bridge.access" and entry["path"] == "/mcp"]


def test_through_nginx_bridge_conf_a_clients_forwarded_host_cannot_win(bridge: BridgeFactory, tmp_path: Path) -> None:
    options = ("--trusted-proxy", "127.0.0.1", "--allowed-host", "mcp.example.com:*", "--log-format", "json")
    with bridge(*options) as b:
        direct = initialize_through(b.url, "mcp.example.com")  # the same headers straight from a trusted peer
        assert direct.status_code == 421 and "evil.example" in direct.json()["error"]["message"]
        with nginx_bridge_conf(tmp_path / "nginx", int(b.url.rsplit(":", 1)[1])) as proxy:
            through = initialize_through(proxy.url, "mcp.example.com")
            assert through.status_code == 200, through.text
    assert "Traceback" not in b.log()


def test_through_haproxy_cfg_no_forwarding_header_of_the_client_wins(bridge: BridgeFactory, tmp_path: Path) -> None:
    agent = free_port()
    options = ("--trusted-proxy", "127.0.0.1", "--allowed-host", "mcp.example.com:*", "--log-format", "json",
               "--agent-port", str(agent))
    with bridge(*options) as b, haproxy_cfg(tmp_path / "haproxy", int(b.url.rsplit(":", 1)[1]), agent) as proxy:
        through = initialize_through(proxy.url, "mcp.example.com")
        assert through.status_code == 200, through.text
    # HAProxy's X-Forwarded-For alone reached the bridge: the client is HAProxy's peer, not the spoofed one
    clients = access_clients(b.log())
    assert clients and set(clients) == {"127.0.0.1"}, clients
    assert "198.51.100.66" not in b.log() and "Traceback" not in b.log()
