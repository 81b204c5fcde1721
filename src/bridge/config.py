"""The bridge's settings: one typed, frozen declaration per option, validated once at start-up.

Each field below is also a CLI flag (`--max-body-size`) and an environment variable
(`BRIDGE_MAX_BODY_SIZE`); `bridge.cli` derives both from these declarations, so an option is
declared exactly once. `validate` gives the checks the types alone cannot express.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

LogFormat = Literal["text", "json"]
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _opt(default: Any, help: str, **extra: Any) -> Any:
    """A setting's default plus its CLI help (and optional `min`/`max`/`choices`/`negatable`)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    host: str = _opt("127.0.0.1", "Address to bind (0.0.0.0 only when asked, e.g. in a container).")
    port: int = _opt(8000, "Port to bind; 0 picks a free port (the bound URL is logged).", min=0, max=65535)
    sse_path: str = _opt("/sse", "Legacy SSE stream path.")
    message_path: str = _opt("/messages", "Legacy SSE message POST path.")
    mcp_path: str = _opt("/mcp", "Streamable HTTP endpoint path.")
    base_url: str = _opt("", "Public base URL incl. any path prefix, used in the SSE endpoint event.")
    max_sessions: int = _opt(100, "Maximum concurrent sessions (then 503 + Retry-After).", min=1)
    max_sessions_per_credential: int = _opt(0, "Maximum concurrent sessions of one credential (a bearer token, or "
                                            "with auth off the mapped --header-env values), then 503 + "
                                            "Retry-After; 0: a quarter of --max-sessions, at least 1.", min=0)
    max_body_size: int = _opt(4 * 1024 * 1024, "Maximum request body, bytes (then 413).", min=1)
    max_line_size: int = _opt(64 * 1024 * 1024, "Maximum child stdout line, bytes.", min=1)
    idle_timeout: float = _opt(600.0, "Seconds without a message before a session ends.", min=0.01)
    request_timeout: float = _opt(300.0, "Seconds a request may wait for the child's answer.", min=0.01)
    replica_id: str = _opt("", "This replica's name, the prefix of its session ids ([A-Za-z0-9-]{1,63}; "
                           "default: the host name).")
    drain_timeout: float = _opt(120.0, "Seconds existing sessions may go on after SIGTERM (a rolling update's "
                                "drain); a second signal ends at once.", min=0.0)
    drain_idle: float = _opt(10.0, "During a drain, seconds a session may sit idle before it ends.", min=0.01)
    agent_port: int = _opt(0, "TCP port of an HAProxy agent check answering up/drain (0: none).", min=0, max=65535)
    shutdown_grace: float = _opt(10.0, "Seconds in-flight requests may finish at shutdown.", min=0.0)
    kill_grace: float = _opt(2.0, "Seconds between ending steps: stdin closed, SIGTERM, SIGKILL.", min=0.0)
    keepalive: float = _opt(15.0, "Seconds between SSE keep-alive comments.", min=0.01)
    modern: bool = _opt(True, "Serve MCP 2026-07-28 requests (no initialize; each request's own _meta) in front "
                        "of the child (docs/modern.md); --no-modern answers them -32022, for clients to "
                        "fall back to initialize.", negatable=True)
    input_timeout: float = _opt(120.0, "Seconds a 2026-07-28 client has to come back with the input a server "
                                "asked for (its retry), before the request's child is ended.", min=0.1)
    json_response: bool = _opt(False, "Answer request POSTs with application/json instead of SSE.")
    get_buffer: int = _opt(256, "Messages held for a Streamable session without a GET stream.", min=1)
    fork_server: bool = _opt(False, "Fork each child from a template process that imported the server once "
                             "(a Python console script or `python -m MODULE`; see docs/fork-server.md).")
    fork_preload: tuple[str, ...] = _opt((), "A module the fork server's template imports besides the server, or "
                                         "module:function to also call function() there once (repeatable; "
                                         "comma-separated).", split=True)
    prespawn: int = _opt(0, "Children kept started ahead for new sessions (not with --header-env).", min=0)
    ready_timeout: float = _opt(10.0, "Seconds /readyz gives a probe child to answer initialize.", min=0.1)
    resume: bool = _opt(True, "Resumable Streamable HTTP streams (event ids, Last-Event-ID replay).",
                        negatable=True)
    resume_buffer: int = _opt(1024, "Events kept per session for replay (oldest evicted first).", min=1)
    resume_bytes: int = _opt(16 * 1024 * 1024, "Bytes of events kept per session for replay.", min=1)
    max_queue: int = _opt(256, "Messages queued for one HTTP stream, or for a child's stdin, before "
                          "writers wait (backpressure).", min=1)
    stall_timeout: float = _opt(30.0, "Seconds a full stream may stall before it is disconnected.", min=0.01)
    env: tuple[str, ...] = _opt((), "K=V added to the child's environment (repeatable).")
    pass_env: bool = _opt(True, "The child inherits the bridge's environment (never BRIDGE_* nor "
                          "--private-env variables).", negatable=True)
    private_env: tuple[str, ...] = _opt((), "A variable only the bridge may see, or a glob pattern like AWS_*: "
                                        "no child inherits it (repeatable; comma-separated).", split=True)
    cwd: Path | None = _opt(None, "Working directory of the child.")  # noqa: RUF009 (returns a field)
    auth_tokens: tuple[str, ...] = _opt((), "Bearer token clients must send (repeatable; comma-separated).",
                                        flag="auth-token", split=True)
    auth_token_file: Path | None = _opt(None, "File of bearer tokens, one per line; re-read when it changes.")  # noqa: RUF009
    auth_disabled: bool = _opt(False, "Serve without auth on a non-loopback address (a proxy authenticates).")
    allowed_hosts: tuple[str, ...] = _opt((), "Host header allowed besides loopback, e.g. mcp.example.com:* "
                                          "(repeatable; comma-separated; * allows any).", flag="allowed-host", split=True)
    allowed_origins: tuple[str, ...] = _opt((), "Origin allowed besides loopback (repeatable; comma-separated).",
                                            flag="allowed-origin", split=True)
    trusted_proxies: tuple[str, ...] = _opt((), "Proxy address or CIDR whose X-Forwarded-*/Forwarded headers "
                                            "are believed (repeatable; comma-separated).",
                                            flag="trusted-proxy", split=True)
    cors_origins: tuple[str, ...] = _opt((), "Origin allowed to call from a browser (CORS; repeatable; comma-separated).",
                                         flag="cors-origin", split=True)
    header_env: tuple[str, ...] = _opt((), "HEADER=VAR: a session's request header becomes its child's variable "
                                       "(repeatable; comma-separated).", split=True)
    header_env_missing: str = _opt("401", "When a mapped header is missing: 401, 400 or allow.",
                                   choices=("401", "400", "allow"))
    log_level: str = _opt("info", "Log level.", choices=LOG_LEVELS)
    log_format: LogFormat = _opt("text", "Log format.", choices=("text", "json"))  # noqa: RUF009
    command: tuple[str, ...] = field(default=(), metadata={"argument": True})

    @property
    def replica(self) -> str:
        """This replica's name: `replica_id`, else the host name made fit for one."""
        return self.replica_id or default_replica_id()

    @property
    def credential_limit(self) -> int:
        """Sessions one credential may hold at once: `max_sessions_per_credential`, else a quarter of
        `max_sessions` (at least 1); never more than `max_sessions`."""
        limit = self.max_sessions_per_credential or max(1, self.max_sessions // 4)
        return min(limit, self.max_sessions)

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment a child starts with: the bridge's own (with --pass-env) less its own
        configuration (every `BRIDGE_*` variable) and the `--private-env` ones, plus --env pairs."""
        private = (*PRIVATE_ENV, *self.private_env)
        env = {k: v for k, v in base.items() if not any(fnmatchcase(k, p) for p in private)} if self.pass_env else {}
        for pair in self.env:
            key, _, value = pair.partition("=")
            env[key] = value
        return env


REPLICA_ID = re.compile(r"[A-Za-z0-9-]{1,63}")
PRIVATE_ENV = ("BRIDGE_*",)  # the bridge's own configuration (tokens included): never a child's
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?", re.ASCII)
_ENV_PATTERN = re.compile(r"[A-Za-z0-9_*?\[\]!-]+")


def default_replica_id() -> str:
    """The host name's first label, with what a replica id cannot hold made `-`."""
    name = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:63]
    return name or "bridge"


class ConfigError(ValueError):
    """A setting that cannot work; `option` names the flag."""

    def __init__(self, option: str, why: str) -> None:
        super().__init__(f"Invalid value for '--{option.replace('_', '-')}': {why}")
        self.option = option
        self.why = why


def validate(settings: Settings) -> Settings:
    """Checks across the typed values; raises `ConfigError` naming the option and why."""
    for name in ("sse_path", "message_path", "mcp_path"):
        path: str = getattr(settings, name)
        if not path.startswith("/") or any(c in path for c in "?# "):
            raise ConfigError(name, f"{path!r} must be a path starting with '/' (no query, space or '#')")
    paths = [settings.sse_path, settings.message_path, settings.mcp_path]
    if len(set(paths)) != 3 or {"/healthz", "/health"} & set(paths):
        raise ConfigError("mcp_path", "the SSE, message and MCP paths must differ from each other and from /healthz")
    if settings.base_url:
        parts = urlsplit(settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError("base_url", f"{settings.base_url!r} must be an http(s) URL without query")
    for pair in settings.env:
        key, eq, _ = pair.partition("=")
        if not eq or not key or "\0" in pair:
            raise ConfigError("env", f"{pair.split('=')[0]!r}: expected K=V")
    for pattern in settings.private_env:
        if not _ENV_PATTERN.fullmatch(pattern):
            raise ConfigError("private_env", f"{pattern!r}: a variable name or glob pattern, e.g. AWS_*")
    if settings.fork_preload and not settings.fork_server:
        raise ConfigError("fork_preload", "it is imported by the fork server's template: give --fork-server too")
    for module in settings.fork_preload:
        if not _MODULE.fullmatch(module):
            raise ConfigError("fork_preload", f"{module!r}: a module name or module:function, e.g. pkg.tls:warm")
    if settings.cwd is not None and not settings.cwd.is_dir():
        raise ConfigError("cwd", f"{str(settings.cwd)!r} is not a directory")
    if settings.replica_id and not REPLICA_ID.fullmatch(settings.replica_id):
        raise ConfigError("replica_id", f"{settings.replica_id!r}: 1 to 63 letters, digits or '-'")
    if not settings.command:
        raise ConfigError("command", "give the child command after '--', e.g. bridge run -- mcp-server")
    return settings


def option_fields() -> list[dataclasses.Field[Any]]:
    """The settings that are CLI options (everything but the child command)."""
    return [f for f in dataclasses.fields(Settings) if not f.metadata.get("argument")]
