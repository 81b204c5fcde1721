"""The sandbox's per-process state, and how a handler reaches it and the calling user."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from atlassian_sandbox.errors import ApiError
from atlassian_sandbox.seed import User
from atlassian_sandbox.store import Store

MODES = ("cloud", "dc")
LOG_LIMIT = 10_000  # the request log keeps the newest entries only, so long benchmark runs stay bounded
CONFLUENCE_PREFIX = {"cloud": "/wiki", "dc": "/confluence"}


@dataclass
class Fault:
    """An injected misbehaviour for the next `times` requests whose method and path match."""

    method: str
    path: str
    status: int | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    times: int = 1
    malformed: bool = False
    body: Any = None


@dataclass
class Sandbox:
    mode: str
    base_url: str
    seeder: Callable[[datetime, str], Store]
    store: Store = field(init=False)
    faults: list[Fault] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        self.reset()

    def reset(self) -> None:
        self.store = self.seeder(datetime.now(UTC).replace(microsecond=0), self.base_url + self.confluence_prefix)
        self.faults.clear()
        self.requests.clear()

    @property
    def confluence_prefix(self) -> str:
        return CONFLUENCE_PREFIX[self.mode]

    def service_of(self, path: str) -> str:
        prefix = self.confluence_prefix
        return "confluence" if path == prefix or path.startswith(prefix + "/") else "jira"


def sandbox_of(request: Request) -> Sandbox:
    box: Sandbox = request.app.state.sandbox
    return box


def store_of(request: Request) -> Store:
    return sandbox_of(request).store


def user_of(request: Request) -> User:
    user: User = request.scope["state"]["user"]
    return user


def writer_of(request: Request, action: str = "perform this operation") -> User:
    """The calling user, who must be allowed to write; 403 otherwise."""
    user = user_of(request)
    if not user.can_write:
        raise ApiError(403, f"You do not have permission to {action}.")
    return user


def base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"
