"""Opening a remote session with an initialize request, which also settles the transport.

As the specification's backwards-compatibility section describes, `auto` POSTs the initialize to
the URL as Streamable HTTP first; a 4xx (404, 405, ...) means an older server, so it opens a
legacy SSE stream with a GET on the same URL and posts the initialize to the endpoint that stream
names. 401, 403, 407 and 429 are answers about the client, not the transport: no fallback then.
"""

from __future__ import annotations

from typing import Final

import anyio

from bridge.connect.legacy import LegacyRemote
from bridge.connect.messages import Key, protocol_version
from bridge.connect.options import TransportName
from bridge.connect.problems import RemoteProblem
from bridge.connect.remote import Link, Remote
from bridge.connect.streamable import StreamableRemote

NO_FALLBACK: Final = frozenset({401, 403, 407, 429})


class Awaited:
    """An answer the relay keeps for itself (an initialize's, a replayed request's)."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.raw: bytes | None = None

    def set(self, raw: bytes) -> None:
        if self.raw is None:
            self.raw = raw
            self.event.set()


def _nothing() -> None:
    pass


def falls_back(status: int | None) -> bool:
    return status is not None and 400 <= status < 500 and status not in NO_FALLBACK


def _speaks_no_mcp(status: int | None) -> bool:
    """An answer to initialize, without a JSON-RPC answer in it, that no MCP server gives: a success
    without an answer, a 4xx about the transport, 501 Not Implemented."""
    return status is not None and (200 <= status < 300 or falls_back(status) or status == 501)


def _not_mcp(problem: str) -> str:
    return f"not an MCP endpoint ({problem})"


async def open_remote(link: Link, transport: TransportName, init: bytes, key: Key,
                      awaited: Awaited) -> tuple[Remote, bytes]:
    """A remote session opened by `init` (request id `key`; its answer reaches `awaited` through
    the sink) and that answer; `RemoteProblem` when no transport works. The caller bounds the time."""
    posted = ""
    if transport != "sse":
        streamable = StreamableRemote(link)
        outcome = await streamable.post(init, frozenset({key}), _nothing)
        if awaited.raw is not None:
            streamable.protocol_version = protocol_version(awaited.raw)
            return streamable, awaited.raw
        await streamable.close()
        posted = outcome.problem or "POST: the server did not answer initialize"
        if transport == "streamable" and falls_back(outcome.status):
            raise RemoteProblem(f"not a Streamable HTTP endpoint ({posted}); --transport auto also tries "
                                "legacy SSE", outcome.status)
        if transport == "streamable" or not falls_back(outcome.status):
            raise RemoteProblem(_not_mcp(posted) if _speaks_no_mcp(outcome.status) else posted, outcome.status)
    try:
        legacy = await LegacyRemote.open(link)
    except RemoteProblem as exc:
        if not posted:
            raise
        raise RemoteProblem(_not_mcp(f"{posted}; {exc}"), exc.status) from None
    try:
        outcome = await legacy.post(init, frozenset({key}), _nothing)
        if outcome.kind != "sent":
            raise RemoteProblem(outcome.problem or "POST: 404 for the session just opened", outcome.status)
        answer = await _answer(awaited, legacy)
        if answer is None:
            raise RemoteProblem("the event stream ended before the answer to initialize")
    except BaseException:
        await _abandon(legacy)
        raise
    return legacy, answer


async def _answer(awaited: Awaited, remote: Remote) -> bytes | None:
    """The awaited answer, or None once the session ended without one."""
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await remote.ended.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        await awaited.event.wait()
        tg.cancel_scope.cancel()
    return awaited.raw


async def _abandon(remote: Remote) -> None:
    with anyio.CancelScope(shield=True):
        await remote.close()
