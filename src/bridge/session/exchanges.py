"""The exchange table: which client request each answer of the child belongs to. No I/O.

Client request ids are replaced by fresh integers on the way into the child (clients reuse ids:
some send every request as `id: 1`) and restored, type-exact, on the way out: `1` is not `"1"`,
and neither is `True`. An exchange leaves the table exactly once, by one of: its answer, the
client's cancel, its deadline, or the session's end; whatever then arrives for it is unknown.

The table also says where the child's other messages belong: a progress notification to the
request that declared its token (`owner_of_token`), anything else to the one request in flight
if there is exactly one (`sole`).
It keeps time only as the numbers it is given (`now`, monotonic, never decreasing), so it is
tested in microseconds without a process, a loop or a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from bridge.jsonrpc import RequestId, valid_id

D = TypeVar("D")
@dataclass(slots=True, eq=False)
class Exchange(Generic[D]):
    """A client request in flight in the child."""

    client_id: RequestId
    child_id: int
    method: str
    dest: D  # where its answer goes
    token: RequestId | None  # its progress token
    started: float
    deadline: float


class ExchangeTable(Generic[D]):
    """The requests in flight in one child, by the child's id for them."""

    __slots__ = ("_by_token", "_next_id", "_open", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # Insertion order is deadline order: every exchange gets the same timeout, and `now` never
        # decreases, so expiry looks only at the front.
        self._open: dict[int, Exchange[D]] = {}
        self._by_token: dict[RequestId, int] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[Exchange[D]]:
        return iter(list(self._open.values()))

    def open(self, client_id: RequestId, method: str, dest: D, token: object, now: float) -> Exchange[D]:
        """A new exchange for a client request; its `child_id` is what the child is given."""
        child_id = self._next_id
        self._next_id += 1
        indexed = token if valid_id(token) else None
        exchange = Exchange(client_id, child_id, method, dest, indexed, now, now + self.timeout)
        self._open[child_id] = exchange
        if indexed is not None:
            self._by_token[indexed] = child_id
        return exchange

    def answered(self, child_id: object) -> Exchange[D] | None:
        """The exchange the child's answer with this id completes (None: unknown, cancelled, expired)."""
        if type(child_id) is not int:
            return None
        exchange = self._open.pop(child_id, None)
        if exchange is not None:
            self._unindex(exchange)
        return exchange

    def cancel(self, client_id: object) -> Exchange[D] | None:
        """The newest exchange the client gave this id, now over (None: nothing in flight by that id)."""
        if not valid_id(client_id):
            return None
        for exchange in reversed(self._open.values()):
            if type(exchange.client_id) is type(client_id) and exchange.client_id == client_id:
                del self._open[exchange.child_id]
                self._unindex(exchange)
                return exchange
        return None

    def expire(self, now: float) -> list[Exchange[D]]:
        """The exchanges whose deadline has passed, now over, oldest first."""
        expired: list[Exchange[D]] = []
        for exchange in self._open.values():
            if exchange.deadline > now:
                break
            expired.append(exchange)
        for exchange in expired:
            del self._open[exchange.child_id]
            self._unindex(exchange)
        return expired

    def next_deadline(self) -> float | None:
        for exchange in self._open.values():
            return exchange.deadline
        return None

    def close(self) -> list[Exchange[D]]:
        """Every exchange still in flight, now over (the session is ending)."""
        exchanges = list(self._open.values())
        self._open.clear()
        self._by_token.clear()
        return exchanges

    def owner_of_token(self, progress_token: object) -> Exchange[D] | None:
        """The exchange whose request declared this progress token (a `notifications/progress`)."""
        child_id = self._by_token.get(progress_token) if valid_id(progress_token) else None
        return self._open.get(child_id) if child_id is not None else None

    def sole(self) -> Exchange[D] | None:
        """The one exchange in flight, if there is exactly one: anything else the child sends
        while it runs belongs to it."""
        if len(self._open) == 1:
            for exchange in self._open.values():
                return exchange
        return None

    def _unindex(self, exchange: Exchange[D]) -> None:
        token = exchange.token
        if token is not None and self._by_token.get(token) == exchange.child_id:
            del self._by_token[token]
