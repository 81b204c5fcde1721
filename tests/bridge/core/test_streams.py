"""The stream queue's backpressure policy, on the queue itself: no process, no socket.

Writers that find the queue full wait in arrival order; a reader that keeps taking is never
disconnected, however many writers wait; a reader that takes nothing for the stall time is.
"""

from __future__ import annotations

import anyio
import pytest

from bridge.streams import STALLED, STREAM_GONE, Dropped, Outbox

pytestmark = pytest.mark.anyio


async def test_two_writers_on_a_full_queue_with_a_slow_but_live_reader_lose_nothing() -> None:
    outbox = Outbox(True, size=1, stall=1.0)
    outcomes: list[Dropped] = []
    taken: list[bytes] = []

    async def writer(name: bytes) -> None:
        for n in range(8):
            outcomes.append(await outbox.deliver(b"%s-%d" % (name, n), False))

    async def slow_reader() -> None:
        while len(taken) < 16:
            await anyio.sleep(0.1)  # 16 takes x 0.1 s: each writer waits far longer than the stall time
            item = await outbox.get()
            assert item is not None, "the reader was disconnected while it was reading"
            taken.append(item[0])

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer, b"a")
            tg.start_soon(writer, b"b")
            tg.start_soon(slow_reader)
    assert outcomes == [None] * 16
    for name in (b"a", b"b"):
        assert [t for t in taken if t.startswith(name)] == [b"%s-%d" % (name, n) for n in range(8)]


async def test_waiting_writers_are_served_in_arrival_order() -> None:
    outbox = Outbox(True, size=1, stall=5.0)
    await outbox.deliver(b"first", False)
    order: list[bytes] = []

    async def writer(data: bytes) -> None:
        await outbox.deliver(data, False)
        order.append(data)

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(writer, b"w%d" % n)
            await anyio.sleep(0.01)  # arrive one after another
        got = [(await outbox.get() or (b"",))[0] for _ in range(6)]
    assert got == [b"first", b"w0", b"w1", b"w2", b"w3", b"w4"]
    assert order == [b"w0", b"w1", b"w2", b"w3", b"w4"]


async def test_a_reader_that_takes_nothing_is_disconnected_after_the_stall_time() -> None:
    outbox = Outbox(True, size=1, stall=0.2)
    await outbox.deliver(b"taken never", False)
    reader_scope = anyio.CancelScope()  # stands for the HTTP writer's scope
    outbox.reader = reader_scope
    outcomes: list[Dropped] = []

    async def writer() -> None:
        outcomes.append(await outbox.deliver(b"more", False))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            tg.start_soon(writer)
    assert sorted(str(o) for o in outcomes) == sorted([STALLED, STREAM_GONE])
    assert reader_scope.cancel_called
    assert await outbox.get() is None  # what it had not taken is dropped


async def test_closing_the_queue_releases_every_waiting_writer() -> None:
    outbox = Outbox(True, size=1, stall=30.0)
    await outbox.deliver(b"x", False)
    outcomes: list[Dropped] = []

    async def writer() -> None:
        outcomes.append(await outbox.deliver(b"y", False))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(writer)
            await anyio.sleep(0.05)
            outbox.close()
    assert outcomes == [STREAM_GONE] * 3
    assert await outbox.deliver(b"late", False) == STREAM_GONE


async def test_a_cancelled_writer_passes_its_turn_on() -> None:
    outbox = Outbox(True, size=1, stall=30.0)
    await outbox.deliver(b"x", False)
    outcomes: list[Dropped] = []

    async def writer() -> None:
        outcomes.append(await outbox.deliver(b"second", False))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            first = anyio.CancelScope()
            tg.start_soon(_cancellable, outbox, first)
            await anyio.sleep(0.02)
            tg.start_soon(writer)
            await anyio.sleep(0.02)
            first.cancel()
            assert (await outbox.get() or (b"",))[0] == b"x"
            assert (await outbox.get() or (b"",))[0] == b"second"
    assert outcomes == [None]


async def _cancellable(outbox: Outbox, scope: anyio.CancelScope) -> None:
    with scope:
        await outbox.deliver(b"never", False)
