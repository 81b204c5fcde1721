"""httpx clients signed in to a running sandbox, for Jira (root) and Confluence (/wiki or /confluence)."""

from __future__ import annotations

import httpx

from atlassian_sandbox.seed import ALICE, User
from tests.conftest import SandboxServer


def jira(sandbox: SandboxServer, user: User = ALICE, bearer: bool = False) -> httpx.Client:
    if bearer:
        return httpx.Client(base_url=sandbox.jira_url, timeout=10,
                            headers={"Authorization": f"Bearer {user.personal_token}"})
    return httpx.Client(base_url=sandbox.jira_url, auth=sandbox.auth(user), timeout=10)


def wiki(sandbox: SandboxServer, user: User = ALICE) -> httpx.Client:
    return httpx.Client(base_url=sandbox.confluence_url, auth=sandbox.auth(user), timeout=10)


def user_ref(sandbox: SandboxServer, user: User) -> dict[str, str]:
    """How this mode names a user in a request body: accountId on cloud, name on dc."""
    return {"accountId": user.account_id} if sandbox.mode == "cloud" else {"name": user.name}
