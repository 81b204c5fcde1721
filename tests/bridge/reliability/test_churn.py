"""Sessions opened and closed in a loop (300 per transport here, 2,000 in `make soak`): afterwards
the bridge's descendants, open fds and RSS are back to where they started.

Tolerances, and why:
- processes: none left, exactly (every child is reaped; a zombie counts as left).
- fds: back to the fresh bridge's count, exactly (polled for up to 10 s while the bridge closes the
  sockets our client just closed). An fd is a pipe or a socket, not allocator noise: one leaked per
  session would show as hundreds.
- RSS: at most 4 MiB above the level measured after a 60-session warm-up (imports, caches and
  allocator pools the first sessions create stay; measured: ~1 MiB of drift over 600 sessions and
  over 4,000). A leak of one session's buffers or task (>= 14 KiB) over 300 sessions exceeds it.
"""

from __future__ import annotations

import anyio
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.bridge.reliability.probes import STEADY_ARGV, descendant_pids, fd_count, rss_bytes, settle
from tests.bridge.reliability.workload import TRANSPORTS, Transport, run_churn

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(150)]

WARM_UP = 60
SESSIONS = 300
IDLE_TIMEOUT = 2.0
RSS_TOLERANCE = 4 * 2**20


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_churn_returns_processes_fds_and_memory(bridge: BridgeFactory, transport: Transport) -> None:
    with bridge("--max-sessions", "100", "--idle-timeout", str(IDLE_TIMEOUT), child=STEADY_ARGV) as b:
        fds_start = fd_count(b.pid)
        with anyio.fail_after(120):
            warm = await run_churn(b.url, transport, WARM_UP)
            assert warm.ok, warm.summary()
            assert await settle(lambda: not descendant_pids(b.pid), within=IDLE_TIMEOUT + 10)
            rss_start = rss_bytes(b.pid)

            tally = await run_churn(b.url, transport, SESSIONS, abandon_every=10)
            assert tally.ok and tally.sessions == SESSIONS, tally.summary()
            assert tally.closed_in_flight == SESSIONS // 10, tally.summary()
            assert tally.abandoned == (SESSIONS // 10 if transport == "streamable" else 0), tally.summary()

            assert await settle(lambda: not descendant_pids(b.pid), within=IDLE_TIMEOUT + 10), (
                f"children left: {descendant_pids(b.pid)}")
            assert await settle(lambda: fd_count(b.pid) <= fds_start, within=10), (
                f"fds: {fds_start} at start, {fd_count(b.pid)} now")
            rss_end = rss_bytes(b.pid)
        assert rss_end <= rss_start + RSS_TOLERANCE, f"RSS {rss_start >> 10} KiB -> {rss_end >> 10} KiB"
    log = b.log()
    assert "Traceback" not in log
    if transport == "streamable":
        assert log.count(f"session ending: idle for {IDLE_TIMEOUT:g}s") == SESSIONS // 10
