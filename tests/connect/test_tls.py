"""Which CAs `https://` trusts. By default the system store as OpenSSL finds it, so SSL_CERT_FILE and
SSL_CERT_DIR are honoured (what docs/migration.md and `--help` promise); `--ca-file` for a private
CA instead; `--truststore` (or BRIDGE_CONNECT_TRUSTSTORE) for the operating system's store through
the truststore package, `--ca-file` added to it. The CA is the test's own, made with the openssl CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import truststore

from bridge.connect.options import ConnectOptions, validate
from tests.support.procs import Started

from .servers import PrivateCa, openssl, private_ca, tls_front
from .support import Ran, drive

NOT_TRUSTED = "TLS certificate not trusted"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCa:
    return private_ca(tmp_path_factory.mktemp("private-ca"))


@pytest.fixture
def https_url(echo_bridge: Started, ca: PrivateCa) -> Iterator[str]:
    """The echo bridge behind TLS with the private CA's certificate."""
    with tls_front(int(echo_bridge.url.rsplit(":", 1)[1]), ca.cert, ca.key) as port:
        yield f"https://127.0.0.1:{port}/mcp"


@pytest.fixture
def empty_dir(tmp_path: Path) -> str:
    empty = tmp_path / "no-certs"
    empty.mkdir()
    return str(empty)


def connected(ran: Ran) -> bool:
    if ran.code == 0:
        assert ran.answers[0]["result"]["serverInfo"]["name"] == "echo", ran.answers
        return True
    assert ran.code == 1 and NOT_TRUSTED in ran.stderr, ran.stderr
    assert len(ran.lines) == 1 and "Traceback" not in ran.stderr
    return False


def test_the_system_store_does_not_know_the_private_ca(https_url: str) -> None:
    ran = drive(https_url)
    assert not connected(ran)
    assert "--ca-file" in ran.stderr and "--truststore" in ran.stderr


def test_the_system_store_honours_ssl_cert_file(https_url: str, ca: PrivateCa, empty_dir: str) -> None:
    assert connected(drive(https_url, env={"SSL_CERT_FILE": str(ca.ca), "SSL_CERT_DIR": empty_dir}))


def test_the_system_store_honours_ssl_cert_dir(https_url: str, ca: PrivateCa, tmp_path: Path) -> None:
    """A directory of hashed names, as `update-ca-certificates` (or `openssl rehash`) makes."""
    store = tmp_path / "certs"
    store.mkdir()
    (store / "company-ca.pem").write_bytes(ca.ca.read_bytes())
    openssl("rehash", str(store))
    env = {"SSL_CERT_FILE": str(tmp_path / "none.pem"), "SSL_CERT_DIR": str(store)}
    assert connected(drive(https_url, env=env))


def test_ca_file_replaces_the_system_store(https_url: str, ca: PrivateCa) -> None:
    assert connected(drive(https_url, "--ca-file", str(ca.ca)))


def test_the_default_store_is_the_systems() -> None:
    """With no SSL_CERT_* variable, the default context holds the CAs OpenSSL's paths name (on
    Debian the ca-certificates bundle), in the process `bridge connect` runs as."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT_")}
    code = ("import ssl; from bridge.connect.options import tls_context; "
            "print(tls_context(None).cert_store_stats()['x509_ca'], ssl.get_default_verify_paths().cafile)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                          check=True)
    count, cafile = done.stdout.split()
    assert int(count) > 0, ("the system store is empty: install the Debian package ca-certificates "
                            f"(OpenSSL reads {cafile})")


def test_truststore_is_the_operating_systems_store(https_url: str, ca: PrivateCa, empty_dir: str) -> None:
    """On Linux the OS store is OpenSSL's too (SSL_CERT_FILE honoured); what differs is who verifies."""
    assert not connected(drive(https_url, "--truststore"))
    assert connected(drive(https_url, "--truststore", env={"SSL_CERT_FILE": str(ca.ca), "SSL_CERT_DIR": empty_dir}))
    assert connected(drive(https_url, env={"BRIDGE_CONNECT_TRUSTSTORE": "1", "SSL_CERT_FILE": str(ca.ca),
                                           "SSL_CERT_DIR": empty_dir}))


def test_truststore_trusts_ca_file_as_well(https_url: str, ca: PrivateCa) -> None:
    assert connected(drive(https_url, "--truststore", "--ca-file", str(ca.ca)))
    tls = validate(ConnectOptions(url=https_url, truststore=True, ca_file=ca.ca)).tls
    assert isinstance(tls, truststore.SSLContext)
    assert not isinstance(validate(ConnectOptions(url=https_url)).tls, truststore.SSLContext)
