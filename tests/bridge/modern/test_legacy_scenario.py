"""The real `mcp-jira-confluence` behind the bridge, against the Cloud sandbox: the whole legacy
scenario (every tool, prompt and resource; tests/legacy/scenario.py) through the SDK's 2026-07-28
client gives the same records as through a handshake-era session of the same bridge (the child
serving the first in its own 2026-07-28 era, the second through the handshake)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp import Client

from atlassian_sandbox.seed import ALICE
from tests.bridge.conftest import BridgeFactory
from tests.bridge.fork.test_legacy import LEGACY
from tests.conftest import SandboxServer
from tests.legacy.scenario import run_scenario

from .conftest import IDLE
from .wire import VERSION

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(150)]


async def scenario(url: str, mode: str, sandbox: SandboxServer) -> tuple[str, list[dict[str, Any]]]:
    sandbox.reset()
    async with Client(url, mode=mode, read_timeout_seconds=30.0) as client:
        return client.protocol_version, await run_scenario(client)


async def test_scenario_is_identical_in_2026_and_through_a_handshake(
    bridge: BridgeFactory, sandbox_cloud: SandboxServer
) -> None:
    with bridge(*IDLE, child=LEGACY, env=sandbox_cloud.env(ALICE)) as b:
        url = b.url + "/mcp"
        modern_version, modern = await scenario(url, VERSION, sandbox_cloud)
        legacy_version, legacy = await scenario(url, "legacy", sandbox_cloud)
        log = b.log()
    assert modern_version == VERSION and legacy_version == "2025-11-25"
    assert len(legacy) > 40
    assert not [r["name"] for r in legacy if r.get("is_error")], "the scenario itself must pass"
    differing = [(mine, theirs) for mine, theirs in zip(modern, legacy, strict=False) if mine != theirs]
    assert not differing, f"{len(differing)} records differ, first: {differing[0]}"
    assert len(modern) == len(legacy)
    # `mcp-jira-confluence` is built on the mcp SDK's dual-era server: it answers the bridge's
    # `server/discover` probe itself, so its 2026-07-28 requests pass through untranslated.
    assert "the child speaks 2026-07-28 itself" in log
    assert len(re.findall(r"child started: pid \d+", log)) >= 2  # the pooled one, the session's own
