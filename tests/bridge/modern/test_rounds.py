"""Multi-round-trip requests (MRTR) of MCP 2026-07-28 in front of a handshake-era child that asks
its client for sampling, elicitation and roots (`bridge.transports.rounds`).

With the SDK's own client (auto mode stays on 2026-07-28 here), and on the wire by hand: the
`input_required` answer and its retry, the refusals of a `requestState` that does not fit its retry
(-32602, the retry's id echoed), a round the client abandons, principals kept apart, and a client
that closes an interactive request's stream. Real bridges on 127.0.0.1, the full-protocol child.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.bridge.conftest import BridgeFactory
from tests.servers.peer import Peer, payload
from tests.support.bridge import run_bridge
from tests.support.procs import Started

from .rounds_support import (
    ENV,
    FULL,
    IDLE,
    TAGGED,
    TWICE,
    Wire,
    answer,
    children,
    created,
    env_of,
    gone,
    refused,
    sse_messages,
    tampered,
    wait_until,
    wire,
)
from .wire import VERSION

pytestmark = pytest.mark.timeout(60)

REPLICA = "a"
ABANDONED = "round of a 2026-07-28 request abandoned"
CLOSED = "client closed a 2026-07-28 request's stream"


@pytest.fixture(scope="module")
def shared_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """One bridge (replica `a`, `X-Echo-Tag` principals) for the rows whose rounds all end in the test."""
    log_path = tmp_path_factory.mktemp("rounds") / "bridge.log"
    with run_bridge(FULL, log_path, (*IDLE, *TAGGED, "--replica-id", REPLICA), env=ENV) as started:
        yield started


@pytest.fixture
def shared(shared_bridge: Started) -> Iterator[Started]:
    yield shared_bridge
    assert "Traceback" not in shared_bridge.log(), shared_bridge.log()


@pytest.fixture(scope="module")
def brief_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """A bridge whose clients have one second to come back with their input (`--input-timeout 1`)."""
    log_path = tmp_path_factory.mktemp("rounds-brief") / "bridge.log"
    with run_bridge(FULL, log_path, (*IDLE, *TAGGED, "--input-timeout", "1"), env=ENV) as started:
        yield started


@pytest.fixture
def brief(brief_bridge: Started) -> Iterator[Started]:
    yield brief_bridge
    assert "Traceback" not in brief_bridge.log(), brief_bridge.log()


# 1. The SDK's own client drives the rounds itself.


@pytest.mark.anyio
async def test_sdk_client_round_trips_sample_elicit_roots(bridge: BridgeFactory) -> None:
    peer = Peer("alice")
    with bridge(*IDLE, child=FULL, env=ENV) as b:
        async with peer.client(b.url + "/mcp") as client:
            assert client.protocol_version == VERSION
            assert payload(await client.call_tool("sample", {"prompt": "hello"})) == {
                "model": "model-alice", "text": "alice answers hello"}
            assert peer.sampled.items == ["hello"]
            assert payload(await client.call_tool("elicit", {"message": "who?"})) == {
                "action": "accept", "content": {"name": "alice"}}
            assert payload(await client.call_tool("roots", {})) == {"roots": peer.roots}
            assert payload(await client.call_tool("echo", {"plain": True})) == {"plain": True}
            assert client.protocol_version == VERSION
        assert "Traceback" not in b.log(), b.log()


# 2. On the wire: input_required, then the retry.


def test_wire_sample_input_required_then_retry_completes(shared: Started) -> None:
    with wire(shared, "wire") as w:
        first = w.call("first", "sample", {"prompt": "by hand"})
        reply = answer(w.post(first))
        assert reply["id"] == "first", reply
        result = reply["result"]
        assert result["resultType"] == "input_required", result
        [(key, asked)] = result["inputRequests"].items()
        assert asked["method"] == "sampling/createMessage", asked
        assert asked["params"]["messages"][0]["content"] == {"type": "text", "text": "by hand"}, asked
        state = result["requestState"]
        assert state.startswith(REPLICA + ".") and len(state) > len(REPLICA) + 20, state

        done = answer(w.post(w.retry("second", first, {key: created("hand-made", "m-hand")}, state)))
    assert done["id"] == "second", done
    assert done["result"]["resultType"] == "complete", done
    assert done["result"]["structuredContent"] == {"model": "m-hand", "text": "hand-made"}, done


# 3. Refusals of a requestState that does not fit its retry: 400, -32602, the retry's id.


def test_refuses_a_tampered_request_state(shared: Started) -> None:
    with wire(shared, "tamper") as w:
        first, key, result = w.ask("t1", "sample", {"prompt": "p"})
        state = result["requestState"]
        forged = tampered(state)
        assert forged != state
        message = refused(w.post(w.retry("t2", first, {key: created("x")}, forged)), "t2")
        assert "altered" in message, message
        # The round is not the forger's to end: the real state still resumes it.
        done = answer(w.post(w.retry("t3", first, {key: created("real")}, state)))
    assert done["id"] == "t3" and done["result"]["structuredContent"]["text"] == "real", done


def test_refuses_a_replayed_request_state(shared: Started) -> None:
    with wire(shared, "replay") as w:
        first, key, result = w.ask("r1", "sample", {"prompt": "p"})
        state = result["requestState"]
        done = answer(w.post(w.retry("r2", first, {key: created("once")}, state)))
        assert done["result"]["structuredContent"]["text"] == "once", done
        message = refused(w.post(w.retry("r3", first, {key: created("twice")}, state)), "r3")
    assert "already used" in message, message


def test_refuses_an_expired_request_state(brief: Started) -> None:
    with wire(brief, "expiring") as w:
        first, key, result = w.ask("e1", "sample", {"prompt": "p"})
        time.sleep(2.0)  # past --input-timeout: the client came back too late
        message = refused(w.post(w.retry("e2", first, {key: created("late")}, result["requestState"])), "e2")
    assert "expired" in message, message


def test_refuses_a_request_state_of_another_principal(shared: Started) -> None:
    with wire(shared, "owner") as owner, wire(shared, "thief") as thief:
        first, key, result = owner.ask("p1", "sample", {"prompt": "p"})
        state = result["requestState"]
        message = refused(thief.post(thief.retry("p2", first, {key: created("stolen")}, state)), "p2")
        assert "another principal" in message, message
        done = answer(owner.post(owner.retry("p3", first, {key: created("mine")}, state)))
    assert done["id"] == "p3" and done["result"]["structuredContent"]["text"] == "mine", done


def test_refuses_a_request_state_of_another_replica(shared: Started, bridge: BridgeFactory) -> None:
    with bridge(*IDLE, *TAGGED, "--replica-id", "b", child=FULL, env=ENV) as other:
        with wire(shared, "roam") as at_a, wire(other, "roam") as at_b:
            first, key, result = at_a.ask("x1", "sample", {"prompt": "p"})
            state = result["requestState"]
            message = refused(at_b.post(at_b.retry("x2", first, {key: created("lost")}, state)), "x2")
            assert "'a'" in message, message
            done = answer(at_a.post(at_a.retry("x3", first, {key: created("home")}, state)))
        assert done["id"] == "x3" and done["result"]["structuredContent"]["text"] == "home", done
        assert not children(other), "the other replica started a child for a retry it cannot take"


def test_refuses_a_retry_with_another_tool_name(shared: Started) -> None:
    with wire(shared, "rename") as w:
        first, key, result = w.ask("n1", "sample", {"prompt": "p"})
        state = result["requestState"]
        message = refused(w.post(w.retry("n2", first, {key: created("x")}, state, tool="echo")), "n2")
        assert "another request" in message, message
        done = answer(w.post(w.retry("n3", first, {key: created("same")}, state)))
    assert done["id"] == "n3" and done["result"]["structuredContent"]["text"] == "same", done


def test_refuses_a_retry_missing_an_input_response(shared: Started) -> None:
    with wire(shared, "lacking") as w:
        first, key, result = w.ask("k1", "sample", {"prompt": "p"})
        [child] = [c for c in children(shared) if env_of(c, "ECHO_TAG") == "lacking"]
        message = refused(w.post(w.retry("k2", first, {}, result["requestState"])), "k2")
        assert key in message, message
        wait_until(lambda: gone(child.pid), "the child of a round whose retry lacked an input ended")
        # The round is over: its state resumes nothing any more.
        refused(w.post(w.retry("k3", first, {key: created("late")}, result["requestState"])), "k3")


def test_two_rounds_and_the_first_state_is_not_taken_again(bridge: BridgeFactory) -> None:
    """A request that needs two rounds (`twice`); the first round's state, replayed during the
    second, is a second use of it: refused, and the second round still completes."""
    with bridge(*IDLE, child=TWICE, env=ENV) as b, wire(b) as w:
        first, key1, result1 = w.ask("d1", "twice", {"prompt": "q"})
        assert result1["inputRequests"][key1]["params"]["messages"][0]["content"]["text"] == "q 1", result1
        state1 = result1["requestState"]
        again = answer(w.post(w.retry("d2", first, {key1: created("one")}, state1)))
        assert again["id"] == "d2", again
        result2 = again["result"]
        assert result2["resultType"] == "input_required", again
        [(key2, asked2)] = result2["inputRequests"].items()
        assert asked2["params"]["messages"][0]["content"]["text"] == "q 2", asked2
        state2 = result2["requestState"]
        assert state2 != state1 and key2 != key1

        replayed = w.post(w.retry("d3", first, {key1: created("replayed"), key2: created("replayed")}, state1))
        try:
            refused(replayed, "d3")
        finally:
            done = w.post(w.retry("d4", first, {key2: created("two")}, state2))
        final = answer(done)
        assert final["id"] == "d4" and final["result"]["structuredContent"] == {"texts": ["one", "two"]}, final


# 4. A round the client never comes back to.


def test_abandoned_round_ends_its_child(brief: Started) -> None:
    with wire(brief, "abandoning") as w:
        before = len(brief.log())
        w.ask("a1", "sample", {"prompt": "never answered"})
        [child] = [c for c in children(brief) if env_of(c, "ECHO_TAG") == "abandoning"]
        wait_until(lambda: gone(child.pid), "the abandoned round's child ended")
        wait_until(lambda: ABANDONED in brief.log()[before:], "the bridge logged the abandoned round")
        assert w.sample("a2", "again", "fresh") == {"model": "raw-model", "text": "fresh"}


# 5. Principals never share a child.


def test_two_principals_sample_on_different_children(shared: Started) -> None:
    with wire(shared, "alice") as alice, wire(shared, "bob") as bob:
        a_first, a_key, a_result = alice.ask("s1", "sample", {"prompt": "from alice"})
        b_first, b_key, b_result = bob.ask("s1", "sample", {"prompt": "from bob"})  # the same id: no matter
        waiting = {env_of(c, "ECHO_TAG"): c.pid for c in children(shared)}
        assert {"alice", "bob"} <= set(waiting), waiting
        assert waiting["alice"] != waiting["bob"]

        b_done = answer(bob.post(bob.retry("s2", b_first, {b_key: created("for bob")}, b_result["requestState"])))
        a_done = answer(alice.post(alice.retry("s2", a_first, {a_key: created("for alice")},
                                               a_result["requestState"])))
        assert b_done["result"]["structuredContent"]["text"] == "for bob", b_done
        assert a_done["result"]["structuredContent"]["text"] == "for alice", a_done

        # The next interactive request of each runs on a child of its own principal (its idle one, or new).
        def whoami(w: Wire, id_: str) -> dict[str, Any]:
            got: dict[str, Any] = answer(w.post(w.call(id_, "whoami", {"name": "ECHO_TAG"})))["result"]
            return dict(got["structuredContent"])

        a_who, b_who = whoami(alice, "w1"), whoami(bob, "w1")
    assert a_who["env"] == "alice" and b_who["env"] == "bob", (a_who, b_who)
    assert a_who["pid"] != b_who["pid"], (a_who, b_who)


# 6. The client closes an interactive request's stream before its answer.


def test_closing_an_interactive_stream_ends_its_child(shared: Started) -> None:
    with wire(shared, "closer") as w:
        body = w.call("c1", "gate", {"name": "never-opened"}, meta={"progressToken": "c1"})
        with w.client.stream("POST", w.url, json=body, headers=w.headers(body)) as response:
            assert response.status_code == 200, response.read()
            first = next(sse_messages(response.iter_lines()))
            assert first["method"] == "notifications/progress", first  # the gate waits in the child
            [child] = [c for c in children(shared) if env_of(c, "ECHO_TAG") == "closer"]
        # Leaving the block closed the stream before any answer.
        wait_until(lambda: CLOSED in shared.log(), "the bridge logged the closed stream")
        wait_until(lambda: gone(child.pid), "the closed request's child ended")
        assert w.sample("c2", "after", "still serving") == {"model": "raw-model", "text": "still serving"}
