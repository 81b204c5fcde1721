"""`bridge connect`'s options: one typed, frozen declaration each, validated once at start-up.

Each field is also a CLI flag (`--read-timeout`) and an environment variable
(`BRIDGE_CONNECT_READ_TIMEOUT`); `bridge.connect.command` derives both from these declarations,
the way `bridge run`'s come from `bridge.config.Settings`. `validate` gives the checks the types
alone cannot express, and resolves the headers (`headers.resolve`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from bridge.config import LOG_LEVELS, ConfigError
from bridge.connect import headers

ENV_PREFIX: Final = "BRIDGE_CONNECT_"
TransportName = Literal["auto", "streamable", "sse"]


def _opt(default: Any, help: str, **extra: Any) -> Any:
    """An option's default plus its CLI help (and optional `min`/`max`/`choices`/`flag`/`lines`)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectOptions:
    url: str = _opt("", "The remote MCP endpoint, e.g. https://mcp.example.com/mcp (Streamable HTTP) "
                    "or https://mcp.example.com/sse (legacy SSE).", argument=True)
    transport: TransportName = _opt("auto", "auto: Streamable HTTP, falling back to legacy SSE when the URL "  # noqa: RUF009
                                    "refuses it with a 4xx; or only one of them.",
                                    choices=("auto", "streamable", "sse"))
    headers: tuple[str, ...] = _opt((), "'Name: value' sent with every request (repeatable). The value, or "
                                    "the word after its first (Bearer env:TOKEN), may be env:VAR or "
                                    "file:PATH, read once at start.",
                                    flag="header", lines=True)
    ca_file: Path | None = _opt(None, "PEM file of the CAs to trust for https:// (default: the system store, "  # noqa: RUF009
                                "OpenSSL's default paths; SSL_CERT_FILE / SSL_CERT_DIR are honoured).")
    truststore: bool = _opt(False, "Verify https:// with the operating system's own certificate store "
                            "(macOS keychain, Windows certificate store; elsewhere the distribution's CA bundle, "
                            "SSL_CERT_FILE / SSL_CERT_DIR honoured), through the truststore package: for CAs "
                            "installed there, e.g. a company's. --ca-file's CAs are trusted as well.")
    timeout: float = _opt(30.0, "Seconds to connect, to send a request, and for the remote to answer "
                          "initialize.", min=0.01)
    read_timeout: float = _opt(300.0, "Seconds a response stream may stay silent before it counts as "
                               "dropped (then it is resumed, or its requests get an error).", min=0.01)
    log_level: str = _opt("warning", "Log level (stderr).", choices=LOG_LEVELS)


@dataclass(frozen=True, slots=True)
class Validated:
    """Options checked, and what start-up derived from them."""

    options: ConnectOptions
    headers: list[tuple[str, str]]
    tls: ssl.SSLContext


def validate(options: ConnectOptions) -> Validated:
    """Checks across the typed values; raises `ConfigError` naming the option and why."""
    parts = urlsplit(options.url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigError("url", f"{options.url!r} must be an http:// or https:// URL")
    try:
        resolved = headers.resolve(options.headers)
    except headers.HeaderError as exc:
        raise ConfigError("header", str(exc)) from None
    try:
        tls = tls_context(options.ca_file, options.truststore)
    except TrustStoreMissing:
        raise ConfigError("truststore", "needs the truststore package (pip install truststore), "
                          "which is not installed") from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("ca_file", f"{str(options.ca_file)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    return Validated(options, resolved, tls)


class TrustStoreMissing(Exception):
    """`--truststore` without the truststore package."""


def tls_context(ca_file: Path | None, os_store: bool = False) -> ssl.SSLContext:
    """How https:// certificates are verified.

    By default against the system store as OpenSSL finds it: `ssl.create_default_context()`, whose
    `set_default_verify_paths` reads SSL_CERT_FILE / SSL_CERT_DIR, else the paths OpenSSL was built
    with (on Debian /etc/ssl/certs, which `update-ca-certificates` fills). With `os_store`, by the
    operating system through truststore (on Linux that is OpenSSL's paths too, with the usual
    distributions' bundles as a fallback when those are empty). `ca_file`'s CAs are trusted too
    with `os_store`, and instead of the system's without it (a private CA only).
    """
    if os_store:
        try:
            import truststore  # a dependency of mcp's httpx2; imported only when asked for
        except ImportError:
            raise TrustStoreMissing from None
        context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
        return context
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return ssl.create_default_context()
