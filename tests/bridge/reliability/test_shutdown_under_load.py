"""SIGTERM to the bridge under a load of sessions over both transports with requests in flight:
every in-flight request completes with its own answer, new sessions are refused meanwhile, the
bridge exits 0 and no child is left (`make soak`: 200 sessions)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.bridge.reliability.probes import STEADY_ARGV
from tests.bridge.reliability.shutdown import run_shutdown_under_load

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

SESSIONS_PER_TRANSPORT = 20
HOLDS = 2


async def test_sigterm_under_load_lets_in_flight_requests_finish(bridge: BridgeFactory, tmp_path: Path) -> None:
    with bridge("--max-sessions", "100", child=STEADY_ARGV) as b:
        with anyio.fail_after(90):
            report = await run_shutdown_under_load(b, SESSIONS_PER_TRANSPORT, HOLDS, tmp_path)
    assert report.ok, report.summary()
    assert report.sessions == 2 * SESSIONS_PER_TRANSPORT and report.in_flight == 2 * SESSIONS_PER_TRANSPORT * HOLDS
    assert len(report.children) == 2 * SESSIONS_PER_TRANSPORT
    log = b.log()
    assert "SIGTERM: shutting down" in log and "bridge stopped" in log
    assert "Traceback" not in log
