"""Parity: the legacy server's whole scenario (every tool, prompt and resource, against the
sandbox) gives identical results over direct stdio, legacy SSE and Streamable HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from atlassian_sandbox.seed import ALICE
from tests.conftest import SandboxServer
from tests.legacy.harness import legacy_client
from tests.legacy.scenario import run_scenario
from tests.support.bridge import run_bridge
from tests.support.procs import Started, script

from .clients import Target, Transport

pytestmark = pytest.mark.anyio

BRIDGE_TRANSPORTS: list[Transport] = ["sse", "streamable"]


@pytest.fixture
async def reference(sandbox: SandboxServer, tmp_path: Path) -> list[dict[str, Any]]:
    """The scenario over direct stdio (the stdio harness checks its transcript and its process)."""
    sandbox.reset()
    async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
        return await run_scenario(client)


@pytest.fixture
def legacy_bridge(
    sandbox: SandboxServer, reference: list[dict[str, Any]], tmp_path: Path
) -> Iterator[Started]:
    """The bridge around `mcp-jira-confluence` signed in as alice, started once the reference
    run is over (the stdio harness counts every `mcp-jira-confluence` process as its own)."""
    with run_bridge(
        [script("mcp-jira-confluence")], tmp_path / "bridge.log", env=sandbox.env(ALICE)
    ) as bridge:
        yield bridge


async def test_scenario_is_identical_on_every_transport(
    sandbox: SandboxServer, reference: list[dict[str, Any]], legacy_bridge: Started
) -> None:
    assert len(reference) > 40
    for transport in BRIDGE_TRANSPORTS:
        sandbox.reset()
        async with Client(Target(transport, legacy_bridge.url).client_transport(), mode="legacy") as client:
            records = await run_scenario(client)
        differing = [
            (mine, theirs) for mine, theirs in zip(records, reference, strict=False) if mine != theirs
        ]
        assert not differing, f"{transport} differs from stdio, first: {differing[0]}"
        assert len(records) == len(reference)
