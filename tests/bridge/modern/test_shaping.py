"""Answers shaped for 2026-07-28: `resultType`, caching fields, server info in `_meta`, cursors bound
to the child that minted them, and the revision's error codes (raw httpx)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.bridge import run_bridge
from tests.support.procs import Started

from .conftest import ENV, IDLE
from .wire import SERVER_INFO_KEY, answer, hold, message, post

pytestmark = pytest.mark.timeout(60)

PAGED = [sys.executable, "-m", "tests.bridge.modern.paged_server"]
TAGGED = ("--header-env", "X-Echo-Tag=ECHO_TAG")


@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """The paged server behind a bridge whose principals differ by `X-Echo-Tag`."""
    log_path = tmp_path_factory.mktemp("modern-paged") / "bridge.log"
    with run_bridge(PAGED, log_path, (*IDLE, *TAGGED), env=ENV) as started:
        yield started


def error_reply(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """(HTTP status, the JSON-RPC error message) of an error answer, JSON or on an SSE stream."""
    if response.status_code == 200:
        return 200, answer(response)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_tools_list_is_shaped(full: Started) -> None:
    with httpx.Client(timeout=20) as client:
        reply = answer(post(client, full.url + "/mcp", message("t", "tools/list")))
    assert reply["id"] == "t", reply
    result = reply["result"]
    assert "echo" in {tool["name"] for tool in result["tools"]}
    assert result["resultType"] == "complete"
    assert result["cacheScope"] == "private" and isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["_meta"][SERVER_INFO_KEY] == {"name": "full-protocol", "version": "1.0.0"}
    assert "nextCursor" not in result


def test_unknown_resource_read_is_32602(full: Started) -> None:
    with httpx.Client(timeout=20) as client:
        body = message("r", "resources/read", {"uri": "test://full/nope"})
        _status, reply = error_reply(post(client, full.url + "/mcp", body))
    assert reply["id"] == "r" and reply["error"]["code"] == -32602, reply


def test_forged_cursor_is_400_32602(full: Started) -> None:
    """modern.md: invalid params is -32602 in a 400 (the SDK's ERROR_CODE_HTTP_STATUS agrees)."""
    with httpx.Client(timeout=20) as client:
        got = post(client, full.url + "/mcp", message("c", "tools/list", {"cursor": "zzz.1"}))
    status, reply = error_reply(got)
    assert status == 400 and reply["id"] == "c" and reply["error"]["code"] == -32602, reply


def test_unknown_method_is_404_32601(full: Started) -> None:
    """modern.md: "unknown method -32601 with **404**", also when it is the child that does not know it."""
    with httpx.Client(timeout=20) as client:
        status, reply = error_reply(post(client, full.url + "/mcp", message(7, "tools/frobnicate")))
    assert reply["id"] == 7 and reply["error"]["code"] == -32601, reply
    assert status == 404, reply


def tools_page(client: httpx.Client, url: str, tag: str, cursor: str | None = None) -> httpx.Response:
    params = {"cursor": cursor} if cursor is not None else {}
    return post(client, url, message(f"list-{tag}-{cursor}", "tools/list", params), x_echo_tag=tag)


@pytest.mark.anyio
async def test_cursors_are_bound_to_their_child(paged: Started) -> None:
    url = paged.url + "/mcp"
    # Both principals keep a request in flight: their children cannot end as idle (and mint new tags).
    async with httpx.AsyncClient(timeout=20) as held, hold(held, url, "c-alpha", **{"x-echo-tag": "alpha"}), \
            hold(held, url, "c-beta", **{"x-echo-tag": "beta"}):
        cursors_of_two_children(url)


def cursors_of_two_children(url: str) -> None:
    with httpx.Client(timeout=20) as client:
        first = answer(tools_page(client, url, "alpha"))["result"]
        assert [t["name"] for t in first["tools"]] == ["echo"]
        cursor = first["nextCursor"]
        tag, dot, theirs = cursor.partition(".")
        assert dot and tag and theirs == "page-2", cursor  # "<tag>.<the child's own cursor>"
        second = answer(tools_page(client, url, "alpha", cursor))["result"]
        assert [t["name"] for t in second["tools"]] == ["pid"] and "nextCursor" not in second
        assert second["resultType"] == "complete" and second["cacheScope"] == "private"

        # Another principal has another child: its cursor is not this child's.
        other = answer(tools_page(client, url, "beta"))["result"]["nextCursor"]
        assert other.partition(".")[0] != tag
        for forged in (other, "page-2", f"{tag}x.page-2"):
            status, reply = error_reply(tools_page(client, url, "alpha", forged))
            assert status == 400 and reply["error"]["code"] == -32602, (forged, reply)
        status, reply = error_reply(tools_page(client, url, "beta", cursor))
        assert status == 400 and reply["error"]["code"] == -32602 and reply["id"] == f"list-beta-{cursor}", reply


def test_resource_not_found_32002_becomes_32602(paged: Started) -> None:
    with httpx.Client(timeout=20) as client:
        url = paged.url + "/mcp"
        found = answer(post(client, url, message("one", "resources/read", {"uri": "test://paged/one"}),
                            x_echo_tag="a"))["result"]
        assert found["contents"][0]["text"] == "one"
        assert found["resultType"] == "complete" and found["cacheScope"] == "private" and "ttlMs" in found
        assert found["_meta"][SERVER_INFO_KEY] == {"name": "paged", "version": "2.0.0"}
        body = message("gone", "resources/read", {"uri": "test://paged/gone"})
        _status, reply = error_reply(post(client, url, body, x_echo_tag="a"))
        assert reply["id"] == "gone" and reply["error"]["code"] == -32602, reply
        # resources/list is shaped like every list.
        listed = answer(post(client, url, message("rl", "resources/list"), x_echo_tag="a"))["result"]
        assert listed["resources"][0]["uri"] == "test://paged/one" and listed["cacheScope"] == "private"


def test_child_never_sees_the_2026_envelope(paged: Started) -> None:
    """The envelope is the bridge's: a handshake-era child gets a handshake-era request. (A child on
    the SDK's `Server.run`, like mcp-jira-confluence, refuses any request carrying it with -32600.)"""
    with httpx.Client(timeout=20) as client:
        body = message("m", "tools/call", {"name": "meta", "arguments": {}}, progressToken=5)
        reply = answer(post(client, paged.url + "/mcp", body, x_echo_tag="a"))
    seen = json.loads(reply["result"]["content"][0]["text"])
    assert not [key for key in seen["keys"] if key.startswith("io.modelcontextprotocol/")], seen
    assert seen["progress_token"] not in (None, 5), seen  # the bridge's own token, not the client's
