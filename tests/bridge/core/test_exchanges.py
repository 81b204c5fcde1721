"""The exchange table, as a specification: ids in and out, cancels, progress tokens, deadlines.

No process, no socket, no loop: time is only the numbers given to the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from bridge.jsonrpc import valid_id
from bridge.session.exchanges import Exchange, ExchangeTable

TIMEOUT = 10.0


def table() -> ExchangeTable[str]:
    return ExchangeTable[str](TIMEOUT)


def same_id(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


# ----- ids on the way in and out --------------------------------------------------------------


def test_every_request_gets_a_fresh_child_id_even_when_the_client_reuses_its_id() -> None:
    t = table()
    first = t.open(1, "tools/call", "a", None, 0.0)
    second = t.open(1, "tools/call", "b", None, 0.0)
    assert first.child_id != second.child_id
    assert len(t) == 2


def test_child_ids_are_never_handed_out_twice_even_after_the_exchange_is_over() -> None:
    t = table()
    seen = set()
    for i in range(5):
        exchange = t.open(1, "ping", str(i), None, 0.0)
        assert exchange.child_id not in seen
        seen.add(exchange.child_id)
        assert t.answered(exchange.child_id) is exchange
    t.close()
    assert t.open(1, "ping", "x", None, 0.0).child_id not in seen


def test_two_requests_with_the_same_client_id_both_get_their_own_answers() -> None:
    t = table()
    a = t.open(1, "tools/call", "to-a", None, 0.0)
    b = t.open(1, "tools/call", "to-b", None, 0.0)
    answered_b = t.answered(b.child_id)
    answered_a = t.answered(a.child_id)
    assert answered_b is not None and answered_b.dest == "to-b" and answered_b.client_id == 1
    assert answered_a is not None and answered_a.dest == "to-a" and answered_a.client_id == 1
    assert len(t) == 0


def test_an_answer_restores_the_client_id_type_exact() -> None:
    t = table()
    as_string = t.open("1", "ping", "s", None, 0.0)
    as_int = t.open(1, "ping", "i", None, 0.0)
    restored_string = t.answered(as_string.child_id)
    restored_int = t.answered(as_int.child_id)
    assert restored_string is not None and same_id(restored_string.client_id, "1")
    assert restored_int is not None and same_id(restored_int.client_id, 1)


def test_an_exchange_records_what_it_was_opened_with_and_its_deadline() -> None:
    t = table()
    exchange = t.open("req-7", "resources/read", "dest", "tok", 5.0)
    assert (exchange.client_id, exchange.method, exchange.dest, exchange.token) == (
        "req-7", "resources/read", "dest", "tok")
    assert exchange.started == 5.0
    assert exchange.deadline == 5.0 + TIMEOUT


def test_an_answer_with_id_string_1_does_not_complete_the_request_the_child_knows_as_1() -> None:
    t = table()
    exchange = t.open("a", "ping", "d", None, 0.0)
    assert exchange.child_id == 1
    assert t.answered("1") is None
    assert len(t) == 1
    assert t.answered(1) is exchange


def test_true_is_not_1() -> None:
    t = table()
    exchange = t.open("a", "ping", "d", None, 0.0)
    assert exchange.child_id == 1
    assert t.answered(True) is None
    assert len(t) == 1


def test_a_float_answer_id_completes_nothing_even_when_it_equals_a_child_id() -> None:
    t = table()
    t.open("a", "ping", "d", None, 0.0)
    assert t.answered(1.0) is None
    assert t.answered(None) is None
    assert t.answered([1]) is None
    assert len(t) == 1


def test_an_answer_for_an_unknown_id_completes_nothing() -> None:
    t = table()
    t.open("a", "ping", "d", None, 0.0)
    assert t.answered(99) is None
    assert t.answered(0) is None
    assert t.answered(-1) is None
    assert len(t) == 1


def test_a_second_answer_for_the_same_id_completes_nothing() -> None:
    t = table()
    exchange = t.open("a", "ping", "d", None, 0.0)
    assert t.answered(exchange.child_id) is exchange
    assert t.answered(exchange.child_id) is None


# ----- cancels ---------------------------------------------------------------------------------


def test_a_cancel_completes_the_newest_request_with_that_id() -> None:
    t = table()
    older = t.open(1, "tools/call", "older", None, 0.0)
    newer = t.open(1, "tools/call", "newer", None, 1.0)
    assert t.cancel(1) is newer
    assert t.cancel(1) is older
    assert t.cancel(1) is None


def test_a_cancel_leaves_requests_with_other_ids_alone() -> None:
    t = table()
    keep = t.open(2, "tools/call", "keep", None, 0.0)
    gone = t.open(1, "tools/call", "gone", None, 0.0)
    assert t.cancel(1) is gone
    assert list(t) == [keep]


def test_a_cancel_by_string_1_does_not_complete_the_request_with_id_1() -> None:
    t = table()
    exchange = t.open(1, "tools/call", "d", None, 0.0)
    assert t.cancel("1") is None
    assert t.cancel(True) is None
    assert t.cancel(1.0) is None
    assert t.cancel(None) is None
    assert len(t) == 1
    assert t.cancel(1) is exchange


def test_a_cancel_by_1_does_not_complete_the_request_with_id_string_1() -> None:
    t = table()
    t.open("1", "tools/call", "d", None, 0.0)
    assert t.cancel(1) is None
    assert len(t) == 1


def test_a_cancel_for_an_id_not_in_flight_completes_nothing() -> None:
    t = table()
    assert t.cancel(1) is None
    t.open(1, "ping", "d", None, 0.0)
    assert t.cancel(2) is None
    assert len(t) == 1


def test_an_answer_after_a_cancel_completes_nothing() -> None:
    t = table()
    exchange = t.open(1, "tools/call", "d", None, 0.0)
    assert t.cancel(1) is exchange
    assert t.answered(exchange.child_id) is None


def test_a_cancel_after_the_answer_completes_nothing() -> None:
    t = table()
    exchange = t.open(1, "tools/call", "d", None, 0.0)
    assert t.answered(exchange.child_id) is exchange
    assert t.cancel(1) is None


# ----- where the child's other messages belong -------------------------------------------------


def test_a_progress_notification_goes_to_the_request_that_declared_its_token() -> None:
    t = table()
    a = t.open(1, "tools/call", "a", "tok-a", 0.0)
    b = t.open(2, "tools/call", "b", 7, 0.0)
    assert t.owner_of_token("tok-a") is a
    assert t.owner_of_token(7) is b


def test_a_progress_token_is_matched_type_exact() -> None:
    t = table()
    t.open(1, "tools/call", "a", 1, 0.0)
    assert t.owner_of_token("1") is None
    assert t.owner_of_token(True) is None
    assert t.owner_of_token(1.0) is None


def test_a_token_that_is_not_a_valid_id_is_not_indexed() -> None:
    t = table()
    for token in (1.5, True, [1], {"t": 1}):
        exchange = t.open(1, "tools/call", "d", token, 0.0)
        assert exchange.token is None
    assert t.owner_of_token(1.5) is None
    assert t.owner_of_token(True) is None
    assert t.owner_of_token(1) is None


def test_an_unknown_token_belongs_to_nobody_even_with_one_request_in_flight() -> None:
    t = table()
    t.open(1, "tools/call", "a", "tok", 0.0)
    assert t.owner_of_token("other") is None


def test_a_token_belongs_to_nobody_once_its_request_is_over() -> None:
    t = table()
    answered = t.open(1, "tools/call", "a", "by-answer", 0.0)
    cancelled = t.open(2, "tools/call", "b", "by-cancel", 0.0)
    t.answered(answered.child_id)
    t.cancel(2)
    assert cancelled.token == "by-cancel"
    assert t.owner_of_token("by-answer") is None
    assert t.owner_of_token("by-cancel") is None


def test_a_token_belongs_to_nobody_once_its_request_expired_or_the_session_closed() -> None:
    t = table()
    t.open(1, "tools/call", "a", "early", 0.0)
    t.open(2, "tools/call", "b", "late", 5.0)
    t.expire(TIMEOUT)
    assert t.owner_of_token("early") is None
    assert t.owner_of_token("late") is not None
    t.close()
    assert t.owner_of_token("late") is None


def test_a_reused_progress_token_belongs_to_the_newest_request_that_declared_it() -> None:
    t = table()
    t.open(1, "tools/call", "older", "tok", 0.0)
    newer = t.open(2, "tools/call", "newer", "tok", 0.0)
    assert t.owner_of_token("tok") is newer


def test_a_reused_progress_token_is_not_unindexed_when_the_older_request_ends() -> None:
    t = table()
    older = t.open(1, "tools/call", "older", "tok", 0.0)
    newer = t.open(2, "tools/call", "newer", "tok", 0.0)
    assert t.answered(older.child_id) is older
    assert t.owner_of_token("tok") is newer
    assert t.answered(newer.child_id) is newer
    assert t.owner_of_token("tok") is None


def test_a_reused_progress_token_belongs_to_nobody_once_the_newest_request_that_declared_it_ends() -> None:
    """Tokens must be unique among active requests; a reuse is not re-pointed at the older one."""
    t = table()
    older = t.open(1, "tools/call", "older", "tok", 0.0)
    newer = t.open(2, "tools/call", "newer", "tok", 0.0)
    assert t.cancel(2) is newer
    assert t.owner_of_token("tok") is None
    assert list(t) == [older]


def test_without_a_token_a_message_belongs_to_the_one_request_in_flight() -> None:
    t = table()
    assert t.sole() is None
    only = t.open(1, "tools/call", "a", None, 0.0)
    assert t.sole() is only
    second = t.open(2, "tools/call", "b", None, 0.0)
    assert t.sole() is None
    t.cancel(1)
    assert t.sole() is second


def test_a_null_token_belongs_to_nobody_even_with_one_request_in_flight() -> None:
    t = table()
    t.open(1, "tools/call", "a", None, 0.0)
    assert t.owner_of_token(None) is None


# ----- deadlines -------------------------------------------------------------------------------


def test_nothing_expires_before_its_deadline() -> None:
    t = table()
    t.open(1, "ping", "a", None, 0.0)
    assert t.expire(TIMEOUT - 0.001) == []
    assert len(t) == 1


def test_an_exchange_expires_at_its_deadline_exactly() -> None:
    t = table()
    exchange = t.open(1, "ping", "a", None, 0.0)
    assert t.expire(exchange.deadline) == [exchange]
    assert len(t) == 0


def test_expired_exchanges_leave_oldest_first_and_only_once() -> None:
    t = table()
    first = t.open(1, "ping", "a", None, 0.0)
    second = t.open(1, "ping", "b", None, 1.0)
    third = t.open(1, "ping", "c", None, 2.0)
    late = t.open(1, "ping", "d", None, 8.0)
    assert t.expire(12.0) == [first, second, third]
    assert t.expire(12.0) == []
    assert t.expire(17.9) == []
    assert t.expire(18.0) == [late]
    assert t.expire(100.0) == []


def test_an_expired_exchange_is_unknown_to_answers_and_cancels() -> None:
    t = table()
    exchange = t.open(1, "ping", "a", None, 0.0)
    t.expire(TIMEOUT)
    assert t.answered(exchange.child_id) is None
    assert t.cancel(1) is None


def test_an_exchange_that_left_early_is_not_expired_later() -> None:
    t = table()
    answered = t.open(1, "ping", "a", None, 0.0)
    kept = t.open(2, "ping", "b", None, 1.0)
    t.answered(answered.child_id)
    assert t.expire(100.0) == [kept]


def test_the_next_deadline_is_the_oldest_requests() -> None:
    t = table()
    assert t.next_deadline() is None
    first = t.open(1, "ping", "a", None, 1.0)
    t.open(2, "ping", "b", None, 3.0)
    assert t.next_deadline() == first.deadline
    t.answered(first.child_id)
    assert t.next_deadline() == 3.0 + TIMEOUT
    t.close()
    assert t.next_deadline() is None


# ----- the end of the session ------------------------------------------------------------------


def test_close_ends_every_exchange_in_flight_oldest_first() -> None:
    t = table()
    a = t.open(1, "ping", "a", "ta", 0.0)
    b = t.open(1, "ping", "b", None, 1.0)
    assert t.close() == [a, b]
    assert len(t) == 0
    assert t.answered(a.child_id) is None
    assert t.cancel(1) is None
    assert t.owner_of_token("ta") is None
    assert t.close() == []


def test_iterating_the_table_is_safe_while_exchanges_leave() -> None:
    t = table()
    opened = [t.open(i, "ping", str(i), None, 0.0) for i in range(3)]
    for exchange in t:
        t.answered(exchange.child_id)
    assert len(t) == 0
    assert [e.dest for e in opened] == ["0", "1", "2"]


def test_valid_ids_are_strings_and_integers_only() -> None:
    assert valid_id(0) and valid_id(-1) and valid_id(2**70) and valid_id("") and valid_id("1")
    for value in (True, False, 1.0, None, [1], {"id": 1}, b"1"):
        assert not valid_id(value)


# ----- the table against a model ---------------------------------------------------------------

CLIENT_IDS: list[int | str] = [1, 1, 2, "1", "2", "a", 0, -1, 2**70, ""]
WRONG_CLIENT_IDS: list[object] = [True, False, 1.0, 2.0, None, [1], b"1"]
TOKENS: list[object] = [None, None, 1, "1", "t", "u", 2**64, 1.5, True, [1]]
METHODS = ["tools/call", "resources/read", "ping", "prompts/get"]


@dataclass
class Opened:
    client_id: int | str
    child_id: int
    method: str
    dest: int
    token: int | str | None
    started: float
    deadline: float


def key(value: object) -> tuple[type, object]:
    return (type(value), value)


@settings(max_examples=200, stateful_step_count=50, deadline=None)
class ExchangeMachine(RuleBasedStateMachine):
    """Opens, answers (right, unknown and wrong-typed ids), cancels, expiry and close, against a model:
    every exchange leaves exactly once, to its own destination, and the table's view matches."""

    def __init__(self) -> None:
        super().__init__()
        self.table: ExchangeTable[int] = ExchangeTable(TIMEOUT)
        self.now = 0.0
        self.next_dest = 0
        self.open_: dict[int, Opened] = {}  # by child id, in opening order
        self.by_token: dict[tuple[type, object], int] = {}
        self.issued: list[int] = []
        self.opened_dests: set[int] = set()
        self.left: set[int] = set()

    # -- the model's bookkeeping

    def leave(self, exchange: Exchange[int]) -> None:
        """`exchange` came back from the table: it must be one in flight, exactly as opened."""
        assert exchange.dest not in self.left, f"exchange {exchange.dest} left twice"
        expected = self.open_.pop(exchange.child_id, None)
        assert expected is not None, f"child id {exchange.child_id} is not in flight"
        assert exchange.dest == expected.dest
        assert same_id(exchange.client_id, expected.client_id)
        assert exchange.method == expected.method
        assert same_id(exchange.token, expected.token)
        assert (exchange.started, exchange.deadline) == (expected.started, expected.deadline)
        if expected.token is not None and self.by_token.get(key(expected.token)) == expected.child_id:
            del self.by_token[key(expected.token)]
        self.left.add(exchange.dest)

    # -- rules (opens come from two rules and the clock moves in small steps, so the table is
    # usually busy; answers mostly aim at what is in flight, and then at its wrong-typed twins)

    def _open(self, client_id: int | str, method: str, token: object) -> None:
        dest = self.next_dest
        self.next_dest += 1
        exchange = self.table.open(client_id, method, dest, token, self.now)
        assert exchange.child_id not in self.issued
        assert exchange.dest == dest and same_id(exchange.client_id, client_id)
        indexed = token if type(token) in (int, str) else None
        assert isinstance(indexed, int | str | None)
        self.open_[exchange.child_id] = Opened(
            client_id, exchange.child_id, method, dest, indexed, self.now, self.now + TIMEOUT)
        if indexed is not None:
            self.by_token[key(indexed)] = exchange.child_id
        self.issued.append(exchange.child_id)
        self.opened_dests.add(dest)

    @rule(client_id=st.sampled_from(CLIENT_IDS), method=st.sampled_from(METHODS),
          token=st.sampled_from(TOKENS))
    def open(self, client_id: int | str, method: str, token: object) -> None:
        self._open(client_id, method, token)

    @rule(client_id=st.sampled_from(CLIENT_IDS), token=st.sampled_from(TOKENS))
    def open_another(self, client_id: int | str, token: object) -> None:
        self._open(client_id, "tools/call", token)

    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        in_flight = list(self.open_)
        aim_in_flight = bool(in_flight) and data.draw(st.integers(0, 3)) > 0
        pool = in_flight if aim_in_flight else (self.issued or [1])
        child_id = data.draw(st.sampled_from(pool))
        target: object = child_id if data.draw(st.booleans()) else data.draw(st.sampled_from([
            str(child_id), float(child_id), True, False, None,
            max(self.issued, default=0) + 1, 0, -child_id, [child_id]]))
        exchange = self.table.answered(target)
        if type(target) is int and target in self.open_:
            assert exchange is not None, f"answer {target!r} found nothing"
            assert exchange.child_id == target
            self.leave(exchange)
        else:
            assert exchange is None, f"answer {target!r} completed {exchange}"

    @rule(client_id=st.sampled_from([*CLIENT_IDS, *WRONG_CLIENT_IDS]))
    def cancel(self, client_id: object) -> None:
        exchange = self.table.cancel(client_id)
        candidates = [o for o in self.open_.values() if same_id(o.client_id, client_id)]
        if type(client_id) in (int, str) and candidates:
            assert exchange is not None
            assert exchange.child_id == candidates[-1].child_id, "not the newest with that id"
            self.leave(exchange)
        else:
            assert exchange is None, f"cancel {client_id!r} completed {exchange}"

    @rule(dt=st.sampled_from([0.0, 0.25, 1.0, 2.0, TIMEOUT / 2, TIMEOUT])
          | st.floats(min_value=0.0, max_value=TIMEOUT / 4, allow_nan=False))
    def advance_and_expire(self, dt: float) -> None:
        self.now += dt
        expired = self.table.expire(self.now)
        due = [o.child_id for o in self.open_.values() if o.deadline <= self.now]
        assert [e.child_id for e in expired] == due, "not the due ones, oldest first"
        for exchange in expired:
            self.leave(exchange)

    @rule(when=st.integers(0, 4))
    def close(self, when: int) -> None:
        if when:  # most draws leave the session running
            return
        closed = self.table.close()
        assert [e.child_id for e in closed] == list(self.open_)
        for exchange in closed:
            self.leave(exchange)
        assert not self.by_token

    # -- invariants

    @invariant()
    def the_table_holds_what_the_model_holds(self) -> None:
        assert len(self.table) == len(self.open_)
        assert [e.child_id for e in self.table] == list(self.open_)
        assert self.opened_dests == self.left | {o.dest for o in self.open_.values()}
        assert not self.left & {o.dest for o in self.open_.values()}

    @invariant()
    def the_next_deadline_is_the_earliest(self) -> None:
        earliest = min((o.deadline for o in self.open_.values()), default=None)
        assert self.table.next_deadline() == earliest

    @invariant()
    def owners_and_the_sole_exchange_match_the_model(self) -> None:
        for token in [*TOKENS, "nobody", 2]:
            found = self.table.owner_of_token(token)
            expected = self.by_token.get(key(token)) if type(token) in (int, str) else None
            assert (found.child_id if found is not None else None) == expected, f"owner_of_token({token!r})"
        only = self.table.sole()
        assert (only.child_id if only is not None else None) == (
            next(iter(self.open_)) if len(self.open_) == 1 else None)

    def teardown(self) -> None:
        for exchange in self.table.close():
            self.leave(exchange)
        assert self.left == self.opened_dests, "an exchange never left"


TestExchangeTable = ExchangeMachine.TestCase
