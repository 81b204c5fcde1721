"""The parity scenario: covers every tool, prompt and resource, and repeats exactly after a reset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlassian_sandbox.seed import ALICE
from tests.conftest import SandboxServer
from tests.legacy.harness import legacy_client
from tests.legacy.scenario import run_scenario

pytestmark = pytest.mark.anyio


async def test_scenario_covers_everything_and_repeats(sandbox: SandboxServer, tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        sandbox.reset()
        async with legacy_client(sandbox.env(ALICE), tmp_path) as client:
            runs.append(await run_scenario(client))
    first, second = runs
    assert first == second

    listed = {t["name"] for t in first[0]["tools"]}
    called = [r for r in first if r["kind"] == "tool"]
    assert {r["name"] for r in called} == listed
    assert not [r["name"] for r in called if r["is_error"]]
    prompts = {p["name"] for p in first[1]["prompts"]}
    assert {r["name"] for r in first if r["kind"] == "prompt"} == prompts
    read = {r["uri"].split("/")[2] for r in first if r["kind"] == "resource"}
    assert read == {"issue", "page", "space"}
    assert "<date>" in str(first) and not re.search(r"\d{4}-\d{2}-\d{2}", str(first))  # dates masked
