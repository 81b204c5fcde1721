"""Many sessions at once over both transports, small and large results mixed: every answer arrives
exactly once, to its own session (each call carries its session's nonce and number).

CI size: 50 sessions x 20 calls per transport (2 large results of 256 KiB - 1 MiB per session);
`make soak` runs 200 x 50 (bench/soak.py).
"""

from __future__ import annotations

import anyio
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.bridge.reliability.probes import STEADY_ARGV
from tests.bridge.reliability.workload import TRANSPORTS, Plan, Transport, run_load
from tests.support.procs import wait_no_descendants

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(150)]

SESSIONS = 50
CALLS = 20


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_every_answer_once_to_its_own_session(bridge: BridgeFactory, transport: Transport) -> None:
    plan = Plan(sessions=SESSIONS, calls=CALLS)
    with bridge("--max-sessions", str(SESSIONS + 10), child=STEADY_ARGV) as b:
        with anyio.fail_after(120):
            tally = await run_load(b.url, transport, plan, bridge_pid=b.pid)
        assert tally.ok, tally.summary()
        assert tally.sessions == SESSIONS and tally.held == SESSIONS, tally.summary()
        assert tally.sent == SESSIONS * CALLS and tally.received == tally.sent, tally.summary()
        assert tally.large == SESSIONS * (CALLS // plan.large_every), tally.summary()
        assert not wait_no_descendants(b.pid, timeout=15)
    assert "Traceback" not in b.log()
