"""`--header 'Name: value'`: parsed and resolved once, at start-up.

A value (or the word after its first word, as in `Bearer env:TOKEN`) may name where the secret
is, so it stays out of client configs and process lists:

- `env:VAR`: the value of environment variable VAR;
- `file:PATH`: the contents of the file PATH, without surrounding whitespace.

A header that cannot be resolved is a `HeaderError` naming the header, never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP field name (RFC 9110 token)."""
_REFERENCES: Final = ("env:", "file:")
_RESERVED: Final = frozenset({"content-type", "content-length", "accept", "host", "mcp-session-id",
                              "last-event-id", "mcp-protocol-version", "transfer-encoding"})
"""Headers the transport itself sets: one from the command line would break it."""


class HeaderError(ValueError):
    """A `--header` that cannot be used."""


def resolve(specs: Iterable[str], environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """`Name: value` strings to (name, value) pairs, every `env:` / `file:` reference read."""
    env = os.environ if environ is None else environ
    return [_one(spec, env) for spec in specs]


def _one(spec: str, env: Mapping[str, str]) -> tuple[str, str]:
    name, colon, value = spec.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _TOKEN.fullmatch(name):
        raise HeaderError(f"{spec.split(':')[0][:40]!r}: expected 'Name: value'")
    if name.lower() in _RESERVED:
        raise HeaderError(f"{name!r} is set by the transport itself")
    prefix, reference = "", value
    if not value.startswith(_REFERENCES):
        word, space, rest = value.partition(" ")
        if space and rest.strip().startswith(_REFERENCES):
            prefix, reference = word + " ", rest.strip()
    if reference.startswith("env:"):
        var = reference[4:]
        if var not in env:
            raise HeaderError(f"{name!r}: environment variable {var!r} is not set")
        value = prefix + env[var].strip()
    elif reference.startswith("file:"):
        path = Path(reference[5:]).expanduser()
        try:
            value = prefix + path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise HeaderError(f"{name!r}: cannot read {str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if any(c in value for c in "\r\n\0"):
        raise HeaderError(f"{name!r}: the value holds a line break")
    return name, value
