"""The real `mcp-jira-confluence` behind `--fork-server`, against the sandbox.

1. Parity: the legacy server's whole scenario (every tool, prompt and resource; see
   tests/legacy/scenario.py) gives identical results with children forked and with children started
   by exec, over Streamable HTTP and legacy SSE.
2. Per-user credentials: with `--header-env` mapping each user's Jira and Confluence credentials and
   `--fork-preload legacy_stdio.prefork:warm`, two sessions of two seeded users, both forked from one
   template, reach the sandbox as two different users, and the template holds no one's credentials.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from mcp import Client

from atlassian_sandbox.seed import ALICE, BOB, User
from tests.conftest import SandboxServer
from tests.legacy.scenario import run_scenario
from tests.support.procs import script

from .conftest import TRANSPORTS, ForkBridgeFactory, Transport, client, environ, text

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(150)]


def installed(name: str) -> str:
    """The console script `name` of the test environment; an error naming the package when absent."""
    path = script(name)
    if shutil.which(path) is None:
        raise RuntimeError(f"{name!r} is not installed: install this repository's package "
                           "`mcp-jira-confluence` into the venv (pip install -e .)")
    return path


LEGACY = [installed("mcp-jira-confluence")]
MAPPING = ("X-Jira-Email=JIRA_USERNAME,X-Jira-Token=JIRA_API_TOKEN,"
           "X-Confluence-Email=CONFLUENCE_USERNAME,X-Confluence-Token=CONFLUENCE_API_TOKEN")
PER_USER = ("--header-env", MAPPING, "--fork-preload", "legacy_stdio.prefork:warm")


async def scenario_over(transport: Transport, url: str, sandbox: SandboxServer) -> list[dict[str, Any]]:
    sandbox.reset()
    async with client(transport, url) as session:
        return await run_scenario(session)


async def test_scenario_is_identical_forked_and_started_on_both_transports(
    fork_bridge: ForkBridgeFactory, sandbox_cloud: SandboxServer
) -> None:
    """Against the Cloud sandbox, signed in as alice (tests/bridge/protocol/test_parity.py runs the
    scenario in both modes; the child's start is what differs here, not the sandbox)."""
    sandbox = sandbox_cloud
    runs: dict[tuple[str, Transport], list[dict[str, Any]]] = {}
    for fork in (False, True):
        mode = "fork" if fork else "exec"
        with fork_bridge(child=LEGACY, env=sandbox.env(ALICE), fork=fork) as b:
            for transport in TRANSPORTS:
                runs[mode, transport] = await scenario_over(transport, b.url, sandbox)
            if fork:
                assert len(b.forked()) >= len(TRANSPORTS) and not b.execed()
            else:
                assert not b.forked() and len(b.execed()) >= len(TRANSPORTS)
    reference = runs["exec", "streamable"]
    assert len(reference) > 40
    assert not [r["name"] for r in reference if r.get("is_error")], "the scenario itself must pass"
    for key, records in runs.items():
        differing = [(mine, theirs) for mine, theirs in zip(records, reference, strict=False) if mine != theirs]
        assert not differing, f"{key} differs from exec over streamable, first: {differing[0]}"
        assert len(records) == len(reference), key


def credentials(user: User) -> dict[str, str]:
    return {"x-jira-email": user.email, "x-jira-token": user.api_token,
            "x-confluence-email": user.email, "x-confluence-token": user.api_token}


async def call(session: Client, name: str, arguments: dict[str, Any] | None = None) -> str:
    return text(await session.call_tool(name, arguments or {}))


async def test_two_users_forked_from_one_template_are_two_users(
    fork_bridge: ForkBridgeFactory, sandbox_cloud: SandboxServer
) -> None:
    sandbox_cloud.reset()
    env = {"JIRA_URL": sandbox_cloud.jira_url, "CONFLUENCE_URL": sandbox_cloud.confluence_url}
    with fork_bridge(*PER_USER, child=LEGACY, env=env) as b:
        async with client("streamable", b.url, credentials(ALICE)) as alice, \
                client("sse", b.url, credentials(BOB)) as bob:
            me = {"alice": await call(alice, "get-jira-current-user"), "bob": await call(bob, "get-jira-current-user")}
            assigned = {"alice": await call(alice, "get-my-assigned-issues", {"max_results": 50}),
                        "bob": await call(bob, "get-my-assigned-issues", {"max_results": 50})}
            template = environ(b.template_pid())
        assert len(b.forked()) >= 2 and not b.execed()
    assert ALICE.display_name in me["alice"] and ALICE.email in me["alice"]
    assert BOB.display_name in me["bob"] and BOB.email in me["bob"]
    assert BOB.display_name not in me["alice"] and ALICE.display_name not in me["bob"]
    assert assigned["alice"] != assigned["bob"]
    users = {(r["user"], r["path"]) for r in sandbox_cloud.requests()}
    assert any(user in (ALICE.email, ALICE.name, ALICE.account_id) for user, _ in users), users
    assert any(user in (BOB.email, BOB.name, BOB.account_id) for user, _ in users), users
    # The template runs with what every child shares, never a user's credentials.
    assert template.get("JIRA_URL") == sandbox_cloud.jira_url
    assert not {"JIRA_USERNAME", "JIRA_API_TOKEN", "CONFLUENCE_USERNAME", "CONFLUENCE_API_TOKEN"} & template.keys()
    log = b.log()
    for secret in (ALICE.api_token, BOB.api_token):
        assert secret not in log and secret not in template.values()
