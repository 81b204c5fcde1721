"""One remote MCP session, whatever its transport: what the relay asks of it, what it hands back.

A `Remote` posts the client's messages (`post` gives an `Outcome`) and hands every message the
server sends (answers, and its own requests and notifications) to the `Sink`, the relay, as the
bytes they arrived as. It tells the sink when the session is over on the server's side (`lose`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import anyio
import httpx
from anyio.abc import TaskGroup

from bridge.connect.messages import Head, Key, NotJson, heads, one_line

log = logging.getLogger("bridge.connect")


class Sink(Protocol):
    """Where a remote's messages go: the relay."""

    async def deliver(self, raw: bytes, found: list[Head]) -> None:
        """A message (or batch) from the server, with what routing read of it."""

    def waiting(self, keys: Collection[Key]) -> bool:
        """Whether an answer to any of these request ids is still awaited."""

    def lost(self, remote: Remote) -> None:
        """The server ended this session (404, or its event stream closed)."""


@dataclass(frozen=True, slots=True)
class Link:
    """What every remote session of the process shares."""

    http: httpx.AsyncClient
    url: str
    sink: Sink
    tasks: TaskGroup
    """Where a session's own streams run (the GET stream, the legacy event stream)."""
    timeout: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a POST: `sent` (taken; for Streamable HTTP also answered as far as it
    goes), `not_found` (404: the session is gone, the message never reached it) or `failed`."""

    kind: Literal["sent", "not_found", "failed"]
    problem: str = ""
    status: int | None = None


SENT = Outcome("sent")
NOT_FOUND = Outcome("not_found")


def failed(problem: str, status: int | None = None) -> Outcome:
    return Outcome("failed", problem, status)


class Remote(ABC):
    """A remote session. `session_id` is what the server calls it (None if it names none)."""

    transport: ClassVar[str]
    answers_on_post: ClassVar[bool]
    """Whether a request's answer comes on its own POST (else on the session's event stream)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.session_id: str | None = None
        self.inflight: set[Key] = set()
        """Requests taken (202) whose answers are to come on the event stream (legacy SSE)."""
        self.ended = anyio.Event()
        self._scope = anyio.CancelScope()  # the session's own streams

    @property
    def is_lost(self) -> bool:
        return self.ended.is_set()

    @property
    def name(self) -> str:
        if self.session_id:
            return f"{self.transport} session {self.session_id}"
        return f"{self.transport} session (the server names none)"

    @abstractmethod
    async def post(self, body: bytes, keys: frozenset[Key], accepted: Callable[[], None]) -> Outcome:
        """Send one client message (or batch) holding requests `keys`; `accepted` (idempotent) runs
        as soon as the server has taken it (its answer's headers arrived), or it failed."""

    @abstractmethod
    def listen(self) -> None:
        """Open the server-to-client stream if the transport has a separate one (idempotent)."""

    def lose(self, why: str) -> None:
        """The server ended the session: stop its streams and tell the sink (once)."""
        if self.ended.is_set():
            return
        self.ended.set()
        self._scope.cancel()
        log.info("%s ended by the server: %s", self.name, why)
        self.link.sink.lost(self)

    async def close(self) -> None:
        """End the session from our side."""
        self.ended.set()
        self._scope.cancel()


async def deliver_data(sink: Sink, data: bytes) -> None:
    """One event's data (or a JSON answer body) to the sink; what is not JSON is dropped."""
    try:
        found = heads(data)
    except NotJson:
        log.warning("the server sent a message that is not JSON (dropped): %r", data[:120])
        return
    await sink.deliver(one_line(data), found)


async def deliver_answer(sink: Sink, body: bytes, keys: frozenset[Key]) -> bool:
    """An error status's body, if it is a JSON-RPC answer to one of `keys` (then delivered)."""
    try:
        found = heads(body)
    except NotJson:
        return False
    if not any(head.is_response and head.key in keys for head in found):
        return False
    await sink.deliver(one_line(body), found)
    return True
