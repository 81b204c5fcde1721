"""The certificate store the HTTP clients verify with, built once per process.

Building it (`load_verify_locations` on certifi's bundle) is the largest part of a fresh process's
first request. Every client of the process shares one context. `warm` builds it ahead, e.g. in a
bridge's `--fork-server` template (`legacy_stdio.prefork`); the context is reused
only while the variables that choose the store (`SSL_CERT_FILE`, `SSL_CERT_DIR`) still have the
values it was built with, so a session whose environment names another store gets its own.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

_STORE_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")
_built: dict[tuple[str, ...], ssl.SSLContext] = {}


def verifying_context(env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The context that verifies against the store `env` chooses, as httpx would build it."""
    env = os.environ if env is None else env
    key = tuple(env.get(name, "") for name in _STORE_VARIABLES)
    context = _built.get(key)
    if context is None:
        cafile, capath = key
        if cafile:
            context = ssl.create_default_context(cafile=cafile)
        elif capath:
            context = ssl.create_default_context(capath=capath)
        else:
            import certifi  # httpx's default store

            context = ssl.create_default_context(cafile=certifi.where())
        _built[key] = context
    return context


def warm() -> None:
    """Build the context the current environment chooses, so later clients find it built."""
    verifying_context()
