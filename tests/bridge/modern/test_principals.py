"""Stateless requests of two principals (here: two `X-Echo-Tag` values mapped by `--header-env`) never
share a child; two requests of one principal do."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.support.procs import descendants

from .conftest import ENV, FULL, IDLE
from .wire import answer, call, headers, hold, text_json

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

TAGGED = ("--header-env", "X-Echo-Tag=ECHO_TAG")


async def whoami(client: httpx.AsyncClient, url: str, tag: str, n: int) -> dict[str, Any]:
    body = call(f"who-{tag}-{n}", "whoami", {"name": "ECHO_TAG"})
    got = await client.post(url, json=body, headers={**headers(body), "x-echo-tag": tag})
    reply = answer(got)
    assert reply["id"] == f"who-{tag}-{n}", reply
    found: dict[str, Any] = text_json(reply["result"])
    return found


async def test_two_principals_never_share_a_child(bridge: BridgeFactory) -> None:
    with bridge(*IDLE, *TAGGED, child=FULL, env=ENV) as b:
        url = b.url + "/mcp"
        # Each principal keeps a request in flight, so neither child can end as idle meanwhile.
        async with httpx.AsyncClient(timeout=20) as client, \
                hold(client, url, "alpha", **{"x-echo-tag": "alpha"}), \
                hold(client, url, "beta", **{"x-echo-tag": "beta"}):
            alpha = [await whoami(client, url, "alpha", n) for n in (1, 2)]
            beta = [await whoami(client, url, "beta", n) for n in (1, 2)]
            children = {p.pid for p in descendants(b.pid)}
        log = b.log()
    assert [a["env"] for a in alpha] == ["alpha", "alpha"] and [x["env"] for x in beta] == ["beta", "beta"]
    assert alpha[0]["pid"] == alpha[1]["pid"], alpha  # the same value twice: the same child
    assert beta[0]["pid"] == beta[1]["pid"], beta
    assert alpha[0]["pid"] != beta[0]["pid"]  # two values: two children
    assert {alpha[0]["pid"], beta[0]["pid"]} <= children
    assert len(re.findall(r"child started: pid \d+", log)) == 2


def test_a_request_without_the_mapped_header_is_refused(bridge: BridgeFactory) -> None:
    """`--header-env-missing 401` (the default): no principal, no child."""
    with bridge(*IDLE, *TAGGED, child=FULL, env=ENV) as b, httpx.Client(timeout=20) as client:
        body = call("who", "whoami", {"name": "ECHO_TAG"})
        got = client.post(b.url + "/mcp", json=body, headers=headers(body))
        assert got.status_code == 401, got.text
        assert not descendants(b.pid)
