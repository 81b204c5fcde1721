"""Per-user Atlassian credentials: `mcp-jira-confluence` behind the bridge with `--header-env`, two
users at once (one per transport, then both on the same transport), each reaching the sandbox as
themselves; the bridge's own Jira token never reaches a child, and no token reaches the log."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from atlassian_sandbox.seed import ALICE, BOB, User
from tests.conftest import SandboxServer
from tests.support.bridge import run_bridge
from tests.support.procs import script

pytestmark = pytest.mark.anyio

MAPPING = "X-Jira-Token=JIRA_API_TOKEN,X-Jira-Email=JIRA_USERNAME"
BRIDGE_TOKEN = "bridge-inbound-token-42"


def user_headers(user: User) -> dict[str, str]:
    return {"x-jira-token": user.api_token, "x-jira-email": user.email, "authorization": f"Bearer {BRIDGE_TOKEN}"}


async def current_user(client: Client) -> str:
    result = await client.call_tool("get-jira-current-user", {})
    assert not result.is_error, result
    text = result.content[0].text  # type: ignore[union-attr]
    assert isinstance(text, str)
    return text


def transport(kind: str, url: str, user: User) -> object:
    if kind == "sse":
        return sse_client(f"{url}/sse", headers=user_headers(user))
    return streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(headers=user_headers(user)))


@pytest.mark.parametrize("kinds", [("sse", "streamable"), ("streamable", "streamable"), ("sse", "sse")])
async def test_two_users_reach_the_sandbox_as_themselves(
    sandbox_cloud: SandboxServer, tmp_path: Path, kinds: tuple[str, str]
) -> None:
    env = {
        "JIRA_URL": sandbox_cloud.jira_url,
        "JIRA_USERNAME": "operator@example.com",
        "JIRA_API_TOKEN": "operator-token-never-forwarded",
    }
    options = ["--header-env", MAPPING, "--auth-token", BRIDGE_TOKEN]
    log_path = tmp_path / "bridge.log"
    with run_bridge([script("mcp-jira-confluence")], log_path, options, env=env) as bridge:
        async with (
            Client(transport(kinds[0], bridge.url, ALICE), mode="legacy") as alice,  # type: ignore[arg-type]
            Client(transport(kinds[1], bridge.url, BOB), mode="legacy") as bob,  # type: ignore[arg-type]
        ):
            seen_by_alice, seen_by_bob = await current_user(alice), await current_user(bob)
            assert ALICE.display_name in seen_by_alice and ALICE.email in seen_by_alice
            assert BOB.display_name in seen_by_bob and BOB.email in seen_by_bob
            assert BOB.display_name not in seen_by_alice and ALICE.display_name not in seen_by_bob
    log = log_path.read_text()
    for secret in (ALICE.api_token, BOB.api_token, BRIDGE_TOKEN, "operator-token-never-forwarded"):
        assert secret not in log
