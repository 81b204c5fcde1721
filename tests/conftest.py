"""Shared fixtures: the Atlassian sandbox as a real process, one per mode for the whole session.

Each fixture yields a `SandboxServer`; call `.reset()` at the start of a test that changes state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from atlassian_sandbox.seed import User, server_env
from tests.support.procs import free_port, script, start_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class SandboxServer:
    """A running sandbox: its URLs, its test hooks, and the env a stdio server needs per user."""

    url: str
    mode: str

    @property
    def jira_url(self) -> str:
        return self.url

    @property
    def confluence_url(self) -> str:
        return self.url + ("/wiki" if self.mode == "cloud" else "/confluence")

    def _hook(self, method: str, name: str, body: Any = None) -> httpx.Response:
        response = httpx.request(method, f"{self.url}/__sandbox/{name}", json=body, timeout=10.0)
        response.raise_for_status()
        return response

    def reset(self) -> None:
        """Reseed the data and clear faults and the request log."""
        self._hook("POST", "reset")

    def fault(self, **spec: Any) -> None:
        """Inject a fault, e.g. `fault(method="GET", path="/myself", status=429, retry_after=1)`."""
        self._hook("POST", "faults", spec)

    def clear_faults(self) -> None:
        self._hook("DELETE", "faults")

    def requests(self) -> list[dict[str, Any]]:
        """The request log: dicts with method, path, query, user, status."""
        log: list[dict[str, Any]] = self._hook("GET", "requests").json()["requests"]
        return log

    def clear_requests(self) -> None:
        self._hook("DELETE", "requests")

    def auth(self, user: User) -> httpx.BasicAuth:
        """Basic credentials for `user` as this mode expects them (email on cloud, name on dc)."""
        login = user.email if self.mode == "cloud" else user.name
        return httpx.BasicAuth(login, user.api_token)

    def env(self, user: User) -> dict[str, str]:
        """Environment for `mcp-jira-confluence` signed in as `user` (see `seed.server_env`)."""
        return server_env(self.url, self.mode, user)


def _run_sandbox(mode: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp(f"sandbox-{mode}") / "sandbox.log"
    argv = [script("atlassian-sandbox"), "--host", "127.0.0.1", "--port", str(port), "--mode", mode]
    with start_server(argv, f"{url}/__sandbox/health", log_path):
        yield SandboxServer(url=url, mode=mode)


@pytest.fixture(scope="session")
def sandbox_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    yield from _run_sandbox("cloud", tmp_path_factory)


@pytest.fixture(scope="session")
def sandbox_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    yield from _run_sandbox("dc", tmp_path_factory)


@pytest.fixture(params=["cloud", "dc"])
def sandbox(request: pytest.FixtureRequest) -> SandboxServer:
    """The sandbox in each mode in turn (session-scoped processes underneath)."""
    server: SandboxServer = request.getfixturevalue(f"sandbox_{request.param}")
    return server
