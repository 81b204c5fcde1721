"""A fair share per credential (`--max-sessions-per-credential`): one token cannot take every session,
the others are still served, and the global `--max-sessions` still holds."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import Settings
from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import HEADERS, INIT_PARAMS, initialize, request
from tests.support.procs import descendants

TOKEN_A = "token-alpha-fair-0123456789"
TOKEN_B = "token-bravo-fair-9876543210"
TOKEN_C = "token-charlie-fair-555555555"


def errors(client: httpx.Client, base: str, status: str, reason: str) -> float:
    text = client.get(base + "/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "bridge_http_errors_total" and sample.labels == {"status": status, "reason": reason}:
                return sample.value
    return 0.0


def refused_initialize(client: httpx.Client, url: str, id_: int) -> httpx.Response:
    response = client.post(url, json=request(id_, "initialize", INIT_PARAMS), headers=HEADERS)
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == id_ and body["error"]["code"] == -32603
    return response


def delete(client: httpx.Client, url: str, session_id: str) -> None:
    assert client.delete(url, headers={"mcp-session-id": session_id}).status_code == 204


@contextlib.contextmanager
def clients(*tokens: str) -> Iterator[list[httpx.Client]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(httpx.Client(timeout=20, headers={"authorization": f"Bearer {t}"}))
               for t in tokens]


def test_a_tokens_third_session_is_refused_while_another_token_is_served(bridge: BridgeFactory) -> None:
    options = ("--max-sessions", "5", "--max-sessions-per-credential", "2", "--auth-token",
               f"{TOKEN_A},{TOKEN_B},{TOKEN_C}")
    with bridge(*options) as b, clients(TOKEN_A, TOKEN_B, TOKEN_C) as (alpha, bravo, charlie):
        url = b.url + "/mcp"
        a1, a2 = initialize(alpha, url), initialize(alpha, url)
        refused = refused_initialize(alpha, url, 41)
        message = refused.json()["error"]["message"]
        assert "--max-sessions-per-credential 2" in message, message
        sse = alpha.get(b.url + "/sse", headers={"accept": "text/event-stream"})  # the same share on SSE
        assert sse.status_code == 503 and "--max-sessions-per-credential" in sse.json()["error"]["message"]
        assert errors(alpha, b.url, "503", "credential_limit") == 2
        assert len(descendants(b.pid)) == 2  # nothing was started for the refused ones

        b1, b2 = initialize(bravo, url), initialize(bravo, url)  # B has its own share
        c1 = initialize(charlie, url)
        # 5 sessions: the global limit holds (C has room in its own share, the bridge has none)
        full = refused_initialize(charlie, url, 42)
        assert "at max sessions" in full.json()["error"]["message"]
        assert errors(alpha, b.url, "503", "unavailable") == 1

        delete(alpha, url, a1)  # A ends one: A may open one again, once its child is gone
        deadline = time.monotonic() + 15
        while True:
            again = alpha.post(url, json=request(0, "initialize", INIT_PARAMS), headers=HEADERS)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert again.status_code == 200, again.text
        a3 = again.headers["mcp-session-id"]
        refused_initialize(alpha, url, 43)
        for client, session_id in ((alpha, a2), (alpha, a3), (bravo, b1), (bravo, b2), (charlie, c1)):
            delete(client, url, session_id)


def test_with_auth_off_the_share_is_per_mapped_header_values(bridge: BridgeFactory) -> None:
    options = ("--max-sessions-per-credential", "1", "--header-env", "X-Echo-Tag=ECHO_TAG")
    with bridge(*options) as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        client.headers["x-echo-tag"] = "user-one-secret"
        one = initialize(client, url)
        refused = refused_initialize(client, url, 7)
        assert "--max-sessions-per-credential 1" in refused.json()["error"]["message"]
        client.headers["x-echo-tag"] = "user-two-secret"
        two = initialize(client, url)
        delete(client, url, one)
        delete(client, url, two)
        log = b.log()
    assert "user-one-secret" not in log and "user-two-secret" not in log


def test_without_any_credential_only_the_global_limit_applies(bridge: BridgeFactory) -> None:
    with bridge("--max-sessions", "3", "--max-sessions-per-credential", "1") as b, httpx.Client(timeout=20) as c:
        url = b.url + "/mcp"
        opened = [initialize(c, url) for _ in range(3)]
        assert "at max sessions" in refused_initialize(c, url, 9).json()["error"]["message"]
        for session_id in opened:
            delete(c, url, session_id)


def test_the_default_share_is_a_quarter_of_max_sessions() -> None:
    assert Settings().credential_limit == 25
    assert Settings(max_sessions=3).credential_limit == 1
    assert Settings(max_sessions=10, max_sessions_per_credential=4).credential_limit == 4
    assert Settings(max_sessions=10, max_sessions_per_credential=50).credential_limit == 10
