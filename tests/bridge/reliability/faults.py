"""A session over either transport for the fault tests: `call` returns every message that came for
a request (its answer last, when one came), whatever transport carried it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx

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
from tests.bridge.reliability.workload import Transport


class Probe:
    """One session of the faulty child, over `transport`."""

    def __init__(self, transport: Transport, http: httpx.AsyncClient, session: StreamableSession | SseSession) -> None:
        self.transport = transport
        self.http = http
        self.session = session

    @property
    def session_id(self) -> str:
        return self.session.session_id

    async def call(self, id_: Any, tool: str, arguments: dict[str, Any] | None = None, token: Any = None) -> list[Message]:
        """Every message that came for this call, its answer last (if any came before the stream ended)."""
        message = call(id_, tool, arguments or {}, token)
        if isinstance(self.session, StreamableSession):
            return await self.session.exchange(message)
        sse = self.session
        before = len(sse.others)
        await sse.send(message)
        with contextlib.suppress(UnexpectedAnswer):  # the stream may end first: then no answer
            await sse.wait_for(lambda: key(id_) in sse.answers)
        return sse.others[before:] + sse.answers.get(key(id_), [])[:1]

    async def echo(self, text: str) -> None:
        got = await self.call(f"echo {text}", "echo", {"text": text})
        assert got and text_of(got[-1]) == text, got

    async def status_after_end(self) -> int:
        """What a POST to this session answers now (404 once it has ended)."""
        if isinstance(self.session, StreamableSession):
            return (await self.session.notify(call("late", "echo", {"text": "late"}))).status_code
        return (await self.session.post(call("late", "echo", {"text": "late"}))).status_code

    async def stream_closed(self) -> bool:
        """SSE: the bridge closed the session's stream (waits up to 10 s). Streamable: True."""
        if isinstance(self.session, SseSession):
            with anyio.move_on_after(10):
                await self.session.stream_ended.wait()
            return self.session.stream_ended.is_set()
        return True


@contextlib.asynccontextmanager
async def probe(transport: Transport, base_url: str, client_name: str = "reliability") -> AsyncIterator[Probe]:
    """An initialized session; ended (DELETE / stream closed) when the block exits."""
    async with http_client(30) as http:
        if transport == "streamable":
            session = StreamableSession(http, base_url)
            await session.open(client_name=client_name)
            try:
                yield Probe(transport, http, session)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await session.delete()
            return
        sse = SseSession(http, base_url)
        async with anyio.create_task_group() as tg:
            await tg.start(sse.run)
            await sse.handshake(client_name=client_name)
            try:
                yield Probe(transport, http, sse)
            finally:
                sse.close()


@contextlib.asynccontextmanager
async def healthy_pair(base_url: str) -> AsyncIterator[tuple[Probe, Probe]]:
    """A healthy session on each transport, on the same bridge as the faulty one."""
    async with probe("streamable", base_url) as streamable, probe("sse", base_url) as sse:
        await streamable.echo("before")
        await sse.echo("before")
        yield streamable, sse
