"""The security options, as the configuration hands them over (names are the CLI's, minus dashes).

CLI flag and environment variable for each (the config module owns the parsing):
`--auth-token` (repeatable; `BRIDGE_AUTH_TOKENS`, comma-separated), `--auth-token-file`,
`--auth-disabled`, `--allowed-host`, `--allowed-origin`, `--trusted-proxy`, `--cors-origin`,
`--header-env HEADER=VAR`, `--header-env-missing {401,400,allow}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bridge.security.header_env import MissingPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class SecuritySettings:
    """Security options before validation; `bridge.security.build_policy` checks and compiles them.

    `allowed_hosts` and `allowed_origins` add to the defaults (loopback names with any port, the
    bind host, the public base URL); `*` allows everything. `cors_origins` are also allowed origins.
    """

    auth_tokens: list[str] = field(default_factory=list)
    auth_token_file: Path | None = None
    auth_disabled: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    trusted_proxies: list[str] = field(default_factory=list)
    cors_origins: list[str] = field(default_factory=list)
    header_env: list[str] = field(default_factory=list)
    header_env_missing: MissingPolicy = "401"


def split_env_list(value: str) -> list[str]:
    """A comma-separated environment variable (e.g. `BRIDGE_AUTH_TOKENS`) as its non-empty items."""
    return [item.strip() for item in value.split(",") if item.strip()]
