"""`server/discover`, answered by the bridge from what the principal's child said to `initialize`."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.bridge.conftest import BridgeFactory
from tests.support.procs import descendants

from .conftest import ENV, FULL, IDLE
from .wire import SERVER_INFO_KEY, VERSION, answer, message, post, sse_messages

pytestmark = pytest.mark.timeout(60)

CHANGES = {"listChanged", "subscribe"}
INIT = {"protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-handshake", "version": "0"}}


def handshake_initialize(client: httpx.Client, url: str) -> dict[str, Any]:
    """What the child says to a handshake-era client's own `initialize` (the session is then ended)."""
    got = client.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT},
                      headers={"accept": "application/json, text/event-stream", "content-type": "application/json"})
    assert got.status_code == 200, got.text
    result: dict[str, Any] = sse_messages(got.text)[-1]["result"]
    client.delete(url, headers={"mcp-session-id": got.headers["mcp-session-id"]})
    return result


def features_without(capabilities: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: ({n: v for n, v in f.items() if n not in names} if isinstance(f, dict) else f)
            for k, f in capabilities.items()}


def test_discover_is_the_childs_initialize_in_2026_clothes(bridge: BridgeFactory) -> None:
    with bridge(*IDLE, child=FULL, env=ENV) as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        got = post(client, url, message("d1", "server/discover"))
        reply = answer(got)
        assert reply["id"] == "d1" and "error" not in reply, reply
        result = reply["result"]
        assert result["supportedVersions"] == [VERSION]
        assert result["resultType"] == "complete"
        assert result["cacheScope"] == "private"
        assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
        assert result["_meta"][SERVER_INFO_KEY] == {"name": "full-protocol", "version": "1.0.0"}
        capabilities = result["capabilities"]
        assert {"tools", "prompts", "resources"} <= capabilities.keys(), capabilities

        again = answer(post(client, url, message("d2", "server/discover")))
        assert again["result"] == result
        assert len(re.findall(r"child started: pid \d+", b.log())) == 1  # one principal, one child
        assert len(descendants(b.pid)) <= 1

        # The child's own answer to a handshake-era initialize: the same features. `listChanged` and
        # `subscribe` reach a 2026-07-28 client only through `subscriptions/listen`: the bridge may drop
        # them (when it serves no listen), never invent or change them.
        initialized = handshake_initialize(client, url)
        child = initialized["capabilities"]
        assert child["tools"].get("listChanged") is True and child["resources"].get("subscribe") is True
        assert capabilities.keys() == child.keys()
        assert features_without(capabilities, *CHANGES) == features_without(child, *CHANGES)
        for name, feature in capabilities.items():
            for key in CHANGES & set(feature or {}):
                assert feature[key] == child[name][key], (name, key, capabilities, child)
        assert result["_meta"][SERVER_INFO_KEY] == initialized["serverInfo"]
