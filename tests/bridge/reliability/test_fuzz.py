"""Property-based fuzzing (hypothesis) of one real bridge process for the whole module: every
endpoint, malformed bodies, odd headers, random and live session ids (see `fuzzing.py`). Never a
5xx, every non-empty error body a JSON-RPC error object, every event a JSON-RPC message; afterwards
the bridge is alive, holds no child beyond the live sessions, and real sessions still work.
`make soak` runs the same with more examples."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.bridge.reliability.clients import ACCEPT, text_of
from tests.bridge.reliability.faults import probe
from tests.bridge.reliability.fuzzing import FUZZ_OPTIONS, LIVE, LIVE_SSE, Case, FuzzTarget, cases
from tests.bridge.reliability.probes import STEADY_ARGV, descendant_pids, log_lines, settle
from tests.support.bridge import run_bridge
from tests.support.procs import Started

pytestmark = pytest.mark.timeout(180)

EXAMPLES = 500  # per endpoint group; `make soak` runs many more
# No shrinking: a case that hangs costs CASE_DEADLINE each time, and shrinking would retry it many
# times; the first falsifying case is reported as found.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def fuzzed_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    log_path = tmp_path_factory.mktemp("fuzz") / "bridge.log"
    with run_bridge(STEADY_ARGV, log_path, FUZZ_OPTIONS) as started:
        yield started


@pytest.fixture(scope="module")
def target(fuzzed_bridge: Started) -> Iterator[FuzzTarget]:
    with FuzzTarget(fuzzed_bridge.url) as fuzz:
        yield fuzz
    print(f"\nfuzz: {fuzz.stats.summary()}")


@FUZZ_SETTINGS
@given(case=cases("mcp"))
def test_fuzz_streamable_endpoint(target: FuzzTarget, case: Case) -> None:
    target.run(case)


@FUZZ_SETTINGS
@given(case=cases("sse"))
def test_fuzz_legacy_sse_endpoints(target: FuzzTarget, case: Case) -> None:
    target.run(case)


@FUZZ_SETTINGS
@given(case=cases("other"))
def test_fuzz_other_paths_and_methods(target: FuzzTarget, case: Case) -> None:
    target.run(case)


JSON_HEADERS: dict[str, bytes | str] = {"content-type": "application/json", "accept": ACCEPT,
                                        "mcp-session-id": LIVE, "mcp-protocol-version": "2025-11-25"}
FOUND = {
    # a client's progress token that is a list or an object (valid JSON, not hashable): 500
    "streamable-list-progress-token": Case(
        "POST", "/mcp", "", JSON_HEADERS,
        b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"t"},'
        b'"_meta":{"progressToken":[1]}}}', chunked=False),
    "sse-object-progress-token": Case(
        "POST", "/messages", f"session_id={LIVE_SSE}", {"content-type": "application/json"},
        b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"t"},'
        b'"_meta":{"progressToken":{"a":1}}}}', chunked=False),
    # a request without a session id (400) whose id is not a string or number: echoed back as the error's id
    "streamable-400-echoes-a-boolean-id": Case(
        "POST", "/mcp", "", {"content-type": "application/json", "accept": ACCEPT},
        b'{"jsonrpc":"2.0","id":false,"method":"ping"}', chunked=False),
    "streamable-400-echoes-an-object-id": Case(
        "POST", "/mcp", "", {"content-type": "application/json", "accept": ACCEPT},
        b'{"jsonrpc":"2.0","id":{"a":[1]},"method":"tools/list"}', chunked=False),
    # "id" with a "method" that is not a string: counted as a request, never sent as one: no answer, ever
    "streamable-null-method-with-id": Case("POST", "/mcp", "", JSON_HEADERS,
                                           b'{"jsonrpc":"2.0","id":1,"method":null}', chunked=False),
    "streamable-number-method-with-id": Case("POST", "/mcp", "", JSON_HEADERS,
                                             b'{"jsonrpc":"2.0","id":2,"method":5,"result":{}}', chunked=False),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_case_found_by_fuzzing(target: FuzzTarget, name: str) -> None:
    """Cases the fuzzing found, kept as plain regression tests (they run whatever the seed)."""
    target.run(FOUND[name])


@pytest.mark.anyio
async def test_bridge_survives_the_fuzzing(fuzzed_bridge: Started, target: FuzzTarget) -> None:
    """Runs after the fuzz tests of this module: alive, no stray child, real sessions work."""
    print(f"\nfuzz so far: {target.stats.summary()}")
    assert fuzzed_bridge.proc.poll() is None, "the bridge died"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(fuzzed_bridge.url + "/healthz")).status_code == 200
    assert not target.sse.violations, target.sse.violations[:5]
    assert not target.sse.ended.is_set(), "the live SSE session's stream ended:\n" + "\n".join(
        log_lines(fuzzed_bridge.log(), target.sse.session_id)[-20:])
    live = 1 + target.live_streamable_sessions  # the SSE listener's and the Streamable ones aimed at
    # Every session the fuzzing opened and left (GET /sse streams closed, minted sessions deleted) has ended.
    assert await settle(lambda: len(descendant_pids(fuzzed_bridge.pid)) == live, within=15), (
        len(descendant_pids(fuzzed_bridge.pid)), live)
    with anyio.fail_after(30):
        for transport in ("streamable", "sse"):
            async with probe(transport, fuzzed_bridge.url) as session:
                answer = (await session.call(1, "echo", {"text": "after the fuzz"}))[-1]
                assert text_of(answer) == "after the fuzz"
    log = fuzzed_bridge.log()
    assert "Traceback" not in log, log[max(0, log.find("Traceback") - 300):][:4000]
