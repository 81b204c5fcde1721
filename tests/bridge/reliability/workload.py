"""Load and churn against a running bridge, shared by the tests (CI size) and `bench/soak.py`
(the issue's full size).

Load: N sessions are opened and held at once, then each makes M `tools/call`s (a few in flight at a
time) mixing small `echo` results and large `blob` results, every one naming its session's nonce
and its call number; the tally counts what was sent, what came back, and every answer that was
lost, duplicated or misrouted (another session's nonce, wrong call, altered bytes).

Churn: sessions opened and closed in a loop by a few workers; some are closed with a request
still in flight (SSE: the stream dropped; Streamable HTTP: DELETE), some Streamable ones are
abandoned for the idle timeout to end, the rest are closed after one call.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.abc
import httpx

from tests.bridge.reliability.children.steady import blob_text
from tests.bridge.reliability.clients import (
    Message,
    SseSession,
    StreamableSession,
    UnexpectedAnswer,
    call,
    http_client,
    key,
    text_of,
)
from tests.bridge.reliability.probes import descendant_pids

Transport = Literal["sse", "streamable"]
TRANSPORTS: tuple[Transport, ...] = ("sse", "streamable")
KIB = 1024


@dataclass
class Plan:
    sessions: int
    calls: int
    window: int = 4  # calls in flight at once per session
    large_every: int = 10  # every 10th call returns 256 KiB - 1 MiB
    large_min: int = 256 * KIB
    large_max: int = 1024 * KIB
    seed: int = 6
    call_timeout: float = 60.0


@dataclass
class Tally:
    """What a load or churn run saw; `ok` when nothing was lost, duplicated, misrouted or failed."""

    sessions: int = 0  # sessions opened
    held: int = 0  # children of the bridge while all sessions were open at once
    sent: int = 0  # tools/call requests sent
    received: int = 0  # messages received for them (answers and anything else)
    answered: int = 0  # requests that got their own, correct answer
    lost: int = 0
    duplicated: int = 0
    misrouted: int = 0
    large: int = 0
    large_bytes: int = 0
    closed_in_flight: int = 0
    abandoned: int = 0  # Streamable sessions left for the idle timeout to end
    slowest: float = 0.0  # seconds, the longest call
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)
        elif len(self.problems) == 20:
            self.problems.append("... (more problems not recorded)")

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.misrouted or self.problems) and self.answered == self.sent

    def summary(self) -> str:
        return (f"sessions={self.sessions} held={self.held} sent={self.sent} received={self.received} "
                f"answered={self.answered} lost={self.lost} duplicated={self.duplicated} "
                f"misrouted={self.misrouted} large={self.large} ({self.large_bytes / 2**20:.0f} MiB) "
                f"closed_in_flight={self.closed_in_flight} abandoned={self.abandoned} slowest={self.slowest:.1f}s problems={self.problems}")


def planned_call(plan: Plan, nonce: str, session_index: int, i: int) -> tuple[Message, str]:
    """The i-th call of a session (id i+1) and the exact text its answer must carry."""
    tag = f"{nonce}:{i}"
    if plan.large_every and i % plan.large_every == plan.large_every - 1:
        size = random.Random(plan.seed * 1_000_003 + session_index * 1009 + i).randint(plan.large_min, plan.large_max)
        return call(i + 1, "blob", {"tag": tag, "n": size}), blob_text(tag, size)
    return call(i + 1, "echo", {"text": tag}), tag


def judge(tally: Tally, message: Message, request: Message, expected: str, where: str) -> None:
    """One answer that arrived for `request`: correct, or misrouted (another id, text or session)."""
    if message.get("id") != request["id"] or type(message.get("id")) is not type(request["id"]):
        tally.misrouted += 1
        tally.problem(f"{where}: answer with id {message.get('id')!r} for request {request['id']!r}")
        return
    if "result" not in message:
        tally.problem(f"{where}: error answer {str(message)[:300]}")
        return
    text = text_of(message)
    if text != expected:
        tally.misrouted += 1
        tally.problem(f"{where}: answer text {text[:80]!r}... is not {expected[:80]!r}...")
        return
    tally.answered += 1
    if len(expected) > 1000:
        tally.large += 1
        tally.large_bytes += len(expected)


class Gate:
    """Counts sessions in; `all_in` is set once `total` have arrived (opened or failed)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.all_in = anyio.Event()
        if total == 0:
            self.all_in.set()

    def arrive(self) -> None:
        self.count += 1
        if self.count >= self.total:
            self.all_in.set()


async def _calls(plan: Plan, tally: Tally, nonce: str, index: int, one: Any) -> None:
    """Run the session's calls, `plan.window` at a time; `one(request, expected)` makes one."""
    slots = anyio.Semaphore(plan.window)

    async def guarded(request: Message, expected: str) -> None:
        started = anyio.current_time()
        try:
            with anyio.fail_after(plan.call_timeout):
                await one(request, expected)
            tally.slowest = max(tally.slowest, anyio.current_time() - started)
        except TimeoutError:
            tally.lost += 1
            tally.problem(f"session {index}: no answer to call {request['id']} within {plan.call_timeout}s")
        except (UnexpectedAnswer, httpx.HTTPError) as exc:
            tally.lost += 1
            tally.problem(f"session {index}: call {request['id']}: {exc!r}"[:400])
        finally:
            slots.release()

    async with anyio.create_task_group() as tg:
        for i in range(plan.calls):
            await slots.acquire()
            request, expected = planned_call(plan, nonce, index, i)
            tally.sent += 1
            tg.start_soon(guarded, request, expected)


async def streamable_session(
    http: httpx.AsyncClient, base_url: str, plan: Plan, tally: Tally, index: int, gate: Gate, go: anyio.Event
) -> None:
    nonce = secrets.token_hex(8)
    session = StreamableSession(http, base_url)
    try:
        await session.open()
    except (UnexpectedAnswer, httpx.HTTPError) as exc:
        tally.problem(f"session {index}: open failed: {exc!r}"[:400])
        gate.arrive()
        return
    tally.sessions += 1

    async def one(request: Message, expected: str) -> None:
        got = await session.exchange(request)
        tally.received += len(got)
        if not got:
            tally.lost += 1
            tally.problem(f"session {index}: the answer stream of call {request['id']} ended empty")
            return
        judge(tally, got[-1], request, expected, f"session {index}")
        if len(got) > 1:
            tally.duplicated += len(got) - 1
            tally.problem(f"session {index}: {len(got)} messages on the stream of call {request['id']}")

    listened = anyio.Event()

    async def listen(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            await session.listen(task_status=task_status)
        finally:
            listened.set()

    arrived = False
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(listen)  # anything routed to the GET stream is a misroute
            gate.arrive()
            arrived = True
            await go.wait()
            await _calls(plan, tally, nonce, index, one)
            status = await session.delete()
            if status != 204:
                tally.problem(f"session {index}: DELETE answered {status}")
            with anyio.fail_after(15):  # the GET stream ends with its session
                await listened.wait()
    except (UnexpectedAnswer, httpx.HTTPError, TimeoutError) as exc:
        tally.problem(f"session {index}: {exc!r}"[:400])
    finally:
        if not arrived:
            gate.arrive()
    if session.get_messages:
        tally.misrouted += len(session.get_messages)
        tally.problem(f"session {index}: GET stream carried {session.get_messages[:3]!r}"[:400])


async def sse_session(
    http: httpx.AsyncClient, base_url: str, plan: Plan, tally: Tally, index: int, gate: Gate, go: anyio.Event
) -> None:
    nonce = secrets.token_hex(8)
    session = SseSession(http, base_url)
    expected_ids = {key("init")}

    async def one(request: Message, expected: str) -> None:
        expected_ids.add(key(request["id"]))
        answer = await session.exchange(request)
        judge(tally, answer, request, expected, f"session {index}")

    arrived = False
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            await session.handshake()
            tally.sessions += 1
            gate.arrive()
            arrived = True
            await go.wait()
            await _calls(plan, tally, nonce, index, one)
            session.close()
    except (UnexpectedAnswer, httpx.HTTPError) as exc:
        tally.problem(f"session {index}: {exc!r}"[:400])
    finally:
        if not arrived:
            gate.arrive()
    for answer_key, answers in session.answers.items():
        if answer_key != key("init"):
            tally.received += len(answers)
        if answer_key not in expected_ids:
            tally.misrouted += len(answers)
            tally.problem(f"session {index}: an answer for a request it never sent: {answers[0]!r}"[:400])
        elif len(answers) > 1:
            tally.duplicated += len(answers) - 1
            tally.problem(f"session {index}: {len(answers)} answers for id {answer_key[1]!r}")
    if session.others:
        tally.misrouted += len(session.others)
        tally.problem(f"session {index}: unexpected messages on the stream: {session.others[:3]!r}"[:400])


async def run_load(base_url: str, transport: Transport, plan: Plan, bridge_pid: int | None = None) -> Tally:
    """`plan.sessions` sessions opened and held at once, then `plan.calls` calls each."""
    tally = Tally()
    gate = Gate(plan.sessions)
    go = anyio.Event()
    worker = sse_session if transport == "sse" else streamable_session

    async def session(index: int) -> None:
        # A client (connection pool) per session: httpx's pool scans all its connections on every
        # request, so one pool shared by hundreds of streams would make the client the bottleneck.
        async with http_client(plan.call_timeout) as http:
            await worker(http, base_url, plan, tally, index, gate, go)

    async with anyio.create_task_group() as tg:
        for index in range(plan.sessions):
            tg.start_soon(session, index)
        await gate.all_in.wait()
        if bridge_pid is not None:
            tally.held = len(descendant_pids(bridge_pid))
        go.set()
    return tally


# ----- churn ---------------------------------------------------------------------------------------


async def churn_streamable(
    http: httpx.AsyncClient, base_url: str, n: int, in_flight: bool, tally: Tally, abandon: bool = False
) -> None:
    session = StreamableSession(http, base_url)
    await session.open()
    tally.sessions += 1
    request, expected = call(1, "echo", {"text": f"churn {n}"}), f"churn {n}"
    tally.sent += 1
    got = await session.exchange(request)
    tally.received += len(got)
    judge(tally, got[-1], request, expected, f"churn {n}")
    if abandon:  # never ended by the client: the bridge's idle timeout must end it
        tally.abandoned += 1
        return
    if not in_flight:
        if await session.delete() != 204:
            tally.problem(f"churn {n}: DELETE did not answer 204")
        return
    # A request still in flight when the client ends the session: it gets an error, not a hang.
    running = anyio.Event()
    held: list[Message] = []

    async def hold() -> None:
        held.extend(await session.exchange(call(2, "hold", {"tag": str(n)}, token=f"t{n}"), lambda _: running.set()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        await running.wait()
        if await session.delete() != 204:
            tally.problem(f"churn {n}: DELETE did not answer 204")
    tally.closed_in_flight += 1
    if not held or held[-1].get("id") != 2 or held[-1].get("error", {}).get("code") != -32000:
        tally.problem(f"churn {n}: the request in flight at DELETE ended with {held[-1:]!r}"[:400])


async def churn_sse(http: httpx.AsyncClient, base_url: str, n: int, in_flight: bool, tally: Tally) -> None:
    session = SseSession(http, base_url)
    async with anyio.create_task_group() as tg:
        await tg.start(session.run)
        await session.handshake()
        tally.sessions += 1
        request, expected = call(1, "echo", {"text": f"churn {n}"}), f"churn {n}"
        tally.sent += 1
        answer = await session.exchange(request)
        tally.received += 1
        judge(tally, answer, request, expected, f"churn {n}")
        if in_flight:  # close the stream while a request is in the child
            await session.send(call(2, "hold", {"tag": str(n)}))
            await session.wait_for(lambda: any(m.get("method") == "notifications/message" for m in session.others))
            tally.closed_in_flight += 1
        session.close()


def every(n: int, period: int, offset: int) -> bool:
    return period > 0 and n % period == offset


async def run_churn(
    base_url: str, transport: Transport, count: int, workers: int = 8, in_flight_every: int = 10,
    abandon_every: int = 0, timeout_each: float = 30.0,
) -> Tally:
    """`count` sessions opened and closed by `workers` loops; every `in_flight_every`-th is closed
    with a request in flight; with Streamable HTTP every `abandon_every`-th is left to the idle timeout."""
    tally = Tally()
    numbers = iter(range(count))

    async def churn_one(http: httpx.AsyncClient, n: int) -> None:
        in_flight = every(n, in_flight_every, in_flight_every - 1)
        if transport == "sse":
            await churn_sse(http, base_url, n, in_flight, tally)
        else:
            abandon = not in_flight and every(n, abandon_every, abandon_every // 2)
            await churn_streamable(http, base_url, n, in_flight, tally, abandon)

    async def worker(http: httpx.AsyncClient) -> None:
        for n in numbers:
            try:
                with anyio.fail_after(timeout_each):
                    await churn_one(http, n)
            except (TimeoutError, UnexpectedAnswer, httpx.HTTPError) as exc:
                tally.problem(f"churn {n}: {exc!r}"[:400])

    async with http_client(timeout_each) as http, anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker, http)
    return tally
