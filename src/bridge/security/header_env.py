"""Per-session child environment from request headers (`--header-env X-Jira-Token=JIRA_API_TOKEN`).

Only explicitly mapped headers are read, once, from the request that creates a session. Each call
builds a fresh dict, so one session's values cannot reach another session's child. The mapped
variables are also removed from the environment the child would inherit from the bridge: a user
who sends no header never runs with someone else's (or the operator's) credential.
Values are never logged and never echoed; refusals name the header only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from bridge.http import HttpError
from bridge.security.tokens import www_authenticate

MissingPolicy = Literal["401", "400", "allow"]
MISSING_POLICIES: tuple[MissingPolicy, ...] = ("401", "400", "allow")
_POLICY_OF: Final[dict[str, MissingPolicy]] = {p: p for p in MISSING_POLICIES}
_REASON: Final = "missing_header"  # the metrics label of every refusal made here

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Variables that change how a program or its loader runs: mapping a request header onto one of
# these would let any client run code in the child, so it is refused at start-up.
_UNSAFE_VARS = frozenset({"PATH", "IFS", "ENV", "BASH_ENV", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT",
                          "JAVA_TOOL_OPTIONS", "HOME", "SHELL"})
_UNSAFE_PREFIXES = ("LD_", "DYLD_", "PYTHON")


@dataclass(frozen=True, slots=True)
class HeaderMapping:
    """One `HEADER=VAR` entry: `header` as configured, `key` its lower-case lookup form."""

    header: str
    key: str
    var: str


def parse_mapping(entry: str) -> HeaderMapping:
    """`HEADER=VAR`, validated; raises ValueError with a message naming the entry."""
    header, eq, var = entry.strip().partition("=")
    header, var = header.strip(), var.strip()
    if not eq or not header or not var:
        raise ValueError(f"header-env {entry!r} must be HEADER=VAR, e.g. X-Jira-Token=JIRA_API_TOKEN")
    if not _HEADER_NAME.match(header):
        raise ValueError(f"header-env {entry!r}: {header!r} is not a valid HTTP header name")
    if not _ENV_NAME.match(var):
        raise ValueError(f"header-env {entry!r}: {var!r} is not a valid environment variable name")
    if var.upper() in _UNSAFE_VARS or var.upper().startswith(_UNSAFE_PREFIXES):
        raise ValueError(f"header-env {entry!r}: {var} controls how programs run; a client must not set it")
    return HeaderMapping(header=header, key=header.lower(), var=var)


class HeaderEnv:
    """The header-to-variable mapping, built once from the settings."""

    def __init__(self, mappings: Iterable[HeaderMapping] = (), missing: MissingPolicy = "401") -> None:
        self.mappings = tuple(mappings)
        self.missing: MissingPolicy = missing
        self._by_key = {m.key: m for m in self.mappings}
        self.variables = frozenset(m.var for m in self.mappings)

    @classmethod
    def parse(cls, entries: Iterable[str], missing: str = "401") -> HeaderEnv:
        """Validate every entry and the missing-header policy; duplicate headers (any case) or
        variables are errors."""
        policy = _POLICY_OF.get(missing)
        if policy is None:
            raise ValueError(f"header-env-missing must be one of {', '.join(MISSING_POLICIES)}, not {missing!r}")
        mappings: list[HeaderMapping] = []
        keys: set[str] = set()
        variables: set[str] = set()
        for entry in entries:
            m = parse_mapping(entry)
            if m.key in keys:
                raise ValueError(f"header-env: header {m.header} is mapped twice")
            if m.var in variables:
                raise ValueError(f"header-env: variable {m.var} is mapped from two headers")
            keys.add(m.key)
            variables.add(m.var)
            mappings.append(m)
        return cls(mappings, policy)

    def __bool__(self) -> bool:
        return bool(self.mappings)

    @property
    def header_names(self) -> tuple[str, ...]:
        """The mapped header names as configured (for CORS `Access-Control-Allow-Headers`)."""
        return tuple(m.header for m in self.mappings)

    def child_env(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The mapped variables for a new session's child; raises `HttpError` per the policy.

        `headers` may be `bridge.http.Headers.text()` or any mapping (names matched case-insensitively).
        """
        found: dict[str, str] = {}
        for name, value in headers.items():
            m = self._by_key.get(name.lower())
            if m is None or m.var in found:
                continue
            value = value.strip()
            if not value:
                continue
            if "\x00" in value:
                raise HttpError(400, f"header {m.header} has a value that cannot be passed on", reason=_REASON)
            found[m.var] = value
        missing = [m.header for m in self.mappings if m.var not in found]
        if missing and self.missing != "allow":
            raise self._missing_error(missing)
        return found

    def environment(self, base: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, str]:
        """The whole environment for a new child: `base` without the mapped variables, plus the mapped
        values from `headers`. Raises `HttpError` like `child_env`."""
        mapped = self.child_env(headers)
        env = {k: v for k, v in base.items() if k not in self.variables}
        env.update(mapped)
        return env

    def _missing_error(self, missing: list[str]) -> HttpError:
        names = ", ".join(missing)
        noun = "header" if len(missing) == 1 else "headers"
        message = f"missing required {noun} {names}: the server needs your own credentials in it"
        if self.missing == "401":
            return HttpError(401, message, headers=[www_authenticate("invalid_request")], reason=_REASON)
        return HttpError(400, message, reason=_REASON)
