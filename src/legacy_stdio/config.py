"""Settings from the environment, read once at start-up.

Variables (the legacy 0.2.x names, plus additions):

- `JIRA_URL`, `JIRA_USERNAME` (alias `JIRA_EMAIL`), `JIRA_API_TOKEN` (Cloud, Basic auth),
  `JIRA_PERSONAL_TOKEN` (Server/Data Center, Bearer auth); the same with `CONFLUENCE_`.
  On Cloud, `CONFLUENCE_URL` includes `/wiki`.
- `JIRA_DEPLOYMENT=cloud|server` forces the Jira deployment type; by default it is read from
  `/rest/api/2/serverInfo` (`deploymentType`). `datacenter`/`dc` mean `server`.
- `{JIRA,CONFLUENCE}_SSL_VERIFY` (default true), `{JIRA,CONFLUENCE}_TIMEOUT` (seconds, default 30),
  `{JIRA,CONFLUENCE}_CUSTOM_HEADERS` (`K=V,K2=V2`), `{JIRA,CONFLUENCE}_HTTP_PROXY`,
  `..._HTTPS_PROXY`, `..._NO_PROXY` (override `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`, which apply too).
- `READ_ONLY_MODE` (write tools are neither listed nor accepted), `ENABLED_TOOLS` (comma list),
  `JIRA_PROJECTS_FILTER`, `CONFLUENCE_SPACES_FILTER` (comma lists of keys).
- `JIRA_SEARCH_PAGE_SIZE` (default 100): issues asked for per search request; searches follow
  pages (`nextPageToken` on Cloud, `startAt` on Server/DC) up to the requested maximum.
- Retries on 429/503 honour `Retry-After`: `ATLASSIAN_MAX_RETRIES` (default 3),
  `ATLASSIAN_RETRY_MAX_WAIT` (seconds one wait may last, default 10), `ATLASSIAN_RETRY_WRITES`
  (default false: only reads are retried).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """An environment variable holds a value we cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Proxies:
    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceConfig:
    """How to reach one service (Jira or Confluence)."""

    name: str  # "Jira" or "Confluence"
    url: str
    username: str | None
    api_token: str | None = field(repr=False)
    personal_token: str | None = field(repr=False)
    ssl_verify: bool = True
    timeout: float = 30.0
    custom_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    proxies: Proxies = Proxies()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line."""
        values = [self.api_token, self.personal_token, *(v for _, v in self.custom_headers)]
        return tuple(v for v in values if v)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    max_wait: float = 10.0
    retry_writes: bool = False


@dataclass(frozen=True)
class Settings:
    jira: ServiceConfig | None
    confluence: ServiceConfig | None
    jira_deployment: str | None = None  # "cloud", "server" or None (detect)
    search_page_size: int = 100
    read_only: bool = False
    enabled_tools: frozenset[str] | None = None
    projects_filter: tuple[str, ...] = ()
    spaces_filter: tuple[str, ...] = ()
    retry: RetryPolicy = RetryPolicy()


def not_configured_message(service: str) -> str:
    prefix = service.upper()
    return (
        f"{service} is not configured: set {prefix}_URL and {prefix}_USERNAME + {prefix}_API_TOKEN (Cloud)"
        f" or {prefix}_PERSONAL_TOKEN (Server/Data Center)"
    )


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False if value else default
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def parse_number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, not {raw!r}")
    return value


def parse_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_headers(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """`K=V,K2=V2` into pairs; a malformed entry names the variable, never the value."""
    pairs = []
    for n, item in enumerate(parse_list(env, name), start=1):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}: entry {n} is not of the form NAME=VALUE")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _service(env: Mapping[str, str], name: str) -> ServiceConfig | None:
    prefix = name.upper()
    url = _get(env, f"{prefix}_URL")
    username = _get(env, f"{prefix}_USERNAME") or _get(env, f"{prefix}_EMAIL")
    api_token = _get(env, f"{prefix}_API_TOKEN")
    personal_token = _get(env, f"{prefix}_PERSONAL_TOKEN")
    if not url or not (personal_token or (username and api_token)):
        return None
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{prefix}_URL must start with http:// or https://")
    return ServiceConfig(
        name=name,
        url=url.rstrip("/"),
        username=username,
        api_token=api_token,
        personal_token=personal_token,
        ssl_verify=parse_bool(env, f"{prefix}_SSL_VERIFY", True),
        timeout=parse_number(env, f"{prefix}_TIMEOUT", 30.0, minimum=0.1),
        custom_headers=parse_headers(env, f"{prefix}_CUSTOM_HEADERS"),
        proxies=Proxies(
            http=_get(env, f"{prefix}_HTTP_PROXY"),
            https=_get(env, f"{prefix}_HTTPS_PROXY"),
            no_proxy=parse_list(env, f"{prefix}_NO_PROXY"),
        ),
    )


def _deployment(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "JIRA_DEPLOYMENT")
    if raw is None:
        return None
    value = raw.lower().replace("_", "").replace("-", "")
    if value == "cloud":
        return "cloud"
    if value in {"server", "datacenter", "dc"}:
        return "server"
    raise ConfigError(f"JIRA_DEPLOYMENT must be cloud or server, not {raw!r}")


def load_settings(env: Mapping[str, str]) -> Settings:
    enabled = parse_list(env, "ENABLED_TOOLS")
    return Settings(
        jira=_service(env, "Jira"),
        confluence=_service(env, "Confluence"),
        jira_deployment=_deployment(env),
        search_page_size=int(parse_number(env, "JIRA_SEARCH_PAGE_SIZE", 100, minimum=1)),
        read_only=parse_bool(env, "READ_ONLY_MODE", False),
        enabled_tools=frozenset(enabled) if enabled else None,
        projects_filter=tuple(p.upper() for p in parse_list(env, "JIRA_PROJECTS_FILTER")),
        spaces_filter=parse_list(env, "CONFLUENCE_SPACES_FILTER"),
        retry=RetryPolicy(
            max_retries=int(parse_number(env, "ATLASSIAN_MAX_RETRIES", 3)),
            max_wait=parse_number(env, "ATLASSIAN_RETRY_MAX_WAIT", 10.0),
            retry_writes=parse_bool(env, "ATLASSIAN_RETRY_WRITES", False),
        ),
    )
