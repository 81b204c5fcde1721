"""SIGTERM to the bridge while sessions over both transports have requests in flight, shared by
the test and `bench/soak.py`.

Each request is the steady child's `hold`, gated on a FIFO: the child reports progress, then blocks
until the FIFO is opened for writing and closed. So every request is provably in flight when the
signal goes out, and the gates are opened only once the bridge refuses new sessions (it is shutting
down): each request must still get its own real answer, the bridge must exit 0, no child may remain.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx

from tests.bridge.reliability.clients import (
    Message,
    SseSession,
    StreamableSession,
    UnexpectedAnswer,
    call,
    http_client,
    initialize,
    key,
    text_of,
)
from tests.bridge.reliability.probes import descendant_pids, running, settle
from tests.bridge.reliability.workload import TRANSPORTS, Gate, Transport
from tests.support.procs import Started


@dataclass
class ShutdownReport:
    sessions: int = 0
    in_flight: int = 0  # requests in the children when SIGTERM went out
    completed: int = 0  # of those, answered with their own result
    refused: int = 0  # status of a new session asked for after the signal (503 expected)
    exit_code: int | None = None
    children: list[int] = field(default_factory=list)  # the bridge's children at the signal
    left: list[int] = field(default_factory=list)  # of those, still running after the bridge exited
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.completed == self.in_flight and self.exit_code == 0
                and not self.left and self.refused == 503)

    def summary(self) -> str:
        return (f"sessions={self.sessions} in_flight={self.in_flight} completed={self.completed} "
                f"new session during shutdown -> {self.refused} exit_code={self.exit_code} "
                f"children={len(self.children)} left={self.left} problems={self.problems[:10]}")


def _answered(report: ShutdownReport, message: Message | None, tag: str) -> None:
    if message is not None and "result" in message and text_of(message) == f"released {tag}":
        report.completed += 1
    else:
        report.problems.append(f"{tag}: {str(message)[:300]}")


async def _streamable(base_url: str, name: str, holds: int, fifo_dir: Path,
                      report: ShutdownReport, gate: Gate) -> None:
    async with http_client(120) as http:
        session = StreamableSession(http, base_url)
        await session.open()
        report.sessions += 1

        async def hold(j: int) -> None:
            tag = f"{name}-{j}"
            request = call(j + 1, "hold", {"tag": tag, "fifo": str(fifo_dir / tag)}, token=tag)
            got = await session.exchange(request, lambda m: gate.arrive() if m.get("method") else None)
            _answered(report, got[-1] if got else None, tag)

        async with anyio.create_task_group() as tg:
            for j in range(holds):
                tg.start_soon(hold, j)


async def _sse(base_url: str, name: str, holds: int, fifo_dir: Path, report: ShutdownReport, gate: Gate) -> None:
    async with http_client(120) as http, anyio.create_task_group() as streams:
        session = SseSession(http, base_url)
        await streams.start(session.run)
        await session.handshake()
        report.sessions += 1

        async def hold(j: int) -> None:
            tag = f"{name}-{j}"
            await session.send(call(j + 1, "hold", {"tag": tag, "fifo": str(fifo_dir / tag)}, token=tag))
            await session.wait_for(lambda: any(m.get("params", {}).get("progressToken") == tag for m in session.others))
            gate.arrive()
            await session.wait_for(lambda: key(j + 1) in session.answers)
            _answered(report, session.answers[key(j + 1)][0], tag)

        async with anyio.create_task_group() as tg:
            for j in range(holds):
                tg.start_soon(hold, j)
        # The bridge closes the stream once the session has ended at shutdown.
        with anyio.fail_after(30):
            await session.stream_ended.wait()


async def _refused_status(http: httpx.AsyncClient, base_url: str) -> int:
    """Ask for a new session until the bridge refuses (it has handled the signal); the status."""
    status = 0
    for _ in range(200):
        response = await http.post(base_url + "/mcp", json=initialize(0), headers={
            "accept": "application/json, text/event-stream", "content-type": "application/json"})
        status = response.status_code
        if status == 503:
            return status
        if "mcp-session-id" in response.headers:  # not refused yet: give the session back
            await http.delete(base_url + "/mcp", headers={"mcp-session-id": response.headers["mcp-session-id"]})
        await anyio.sleep(0.05)  # polling another process's state: there is nothing to await
    return status


async def _release(path: Path) -> None:
    """Open the FIFO for writing (waits for the child to open it for reading) and close it."""
    fd = await anyio.to_thread.run_sync(os.open, str(path), os.O_WRONLY, abandon_on_cancel=True)
    os.close(fd)


async def run_shutdown_under_load(
    bridge: Started, sessions_per_transport: int, holds: int, fifo_dir: Path
) -> ShutdownReport:
    """Callers bound it (`anyio.fail_after`): every wait inside is for the bridge or its children."""
    report = ShutdownReport()
    total = sessions_per_transport * len(TRANSPORTS) * holds
    gate = Gate(total)
    names = [(t, f"{t}-{i}") for t in TRANSPORTS for i in range(sessions_per_transport)]
    for _, name in names:
        for j in range(holds):
            os.mkfifo(fifo_dir / f"{name}-{j}")
    async with anyio.create_task_group() as tg:
        for transport, name in names:
            tg.start_soon(_guarded, transport, bridge.url, name, holds, fifo_dir, report, gate)
        await gate.all_in.wait()  # every request has reached its child and blocks on its gate
        report.in_flight = gate.count
        report.children = descendant_pids(bridge.pid)
        os.kill(bridge.pid, signal.SIGTERM)
        async with http_client(10) as http:
            report.refused = await _refused_status(http, bridge.url)
        async with anyio.create_task_group() as gates:
            for _, name in names:
                for j in range(holds):
                    gates.start_soon(_release, fifo_dir / f"{name}-{j}")
    report.exit_code = await anyio.to_thread.run_sync(bridge.proc.wait, abandon_on_cancel=True)
    await settle(lambda: not any(running(pid) for pid in report.children), within=10)
    report.left = [pid for pid in report.children if running(pid)]
    return report


async def _guarded(transport: Transport, base_url: str, name: str, holds: int, fifo_dir: Path,
                   report: ShutdownReport, gate: Gate) -> None:
    run = _sse if transport == "sse" else _streamable
    try:
        await run(base_url, name, holds, fifo_dir, report, gate)
    except (UnexpectedAnswer, httpx.HTTPError, TimeoutError) as exc:
        report.problems.append(f"{name}: {exc!r}"[:400])
        for _ in range(holds):  # never leave the coordinator waiting for requests that failed
            gate.arrive()
