"""The 2026-07-28 error table of the MCP path, one row per test, over raw httpx.

Every row is answered by the bridge itself: none may start a child.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.procs import Started, descendants

from .wire import SUPPORTED, VERSION, VERSION_KEY, call, headers, message, post

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served(table: Started) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(timeout=20) as client:
        yield client, table.url + "/mcp"
    assert not descendants(table.pid), "a row the bridge answers itself started a child"
    assert "Traceback" not in table.log()


def error_of(response: httpx.Response, status: int, code: int, id_: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == code and body["error"]["message"], body
    assert body["id"] == id_, body
    return body


def test_400_missing_envelope_key_echoes_the_id(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    body = message("no-caps", "tools/list")
    del body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]
    got = error_of(post(client, url, body), 400, -32602, "no-caps")
    assert "clientCapabilities" in got["error"]["message"]


def test_400_mcp_method_header_differs_from_body(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    error_of(post(client, url, message(2, "tools/list"), mcp_method="prompts/list"), 400, -32020, 2)


def test_400_protocol_version_header_differs_from_body(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    body = message(3, "tools/list")
    error_of(post(client, url, body, mcp_protocol_version="2025-11-25"), 400, -32020, 3)


def test_400_mcp_name_differs_on_tools_call(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    error_of(post(client, url, call(4, "echo", {"x": 1}), mcp_name="whoami"), 400, -32020, 4)


def test_400_mcp_name_missing_on_tools_call(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    error_of(post(client, url, call(5, "echo", {"x": 1}), mcp_name=None), 400, -32020, 5)


def test_400_unsupported_version_names_what_is_served(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    got = error_of(post(client, url, message("v", "tools/list", version="2099-01-01")), 400, -32022, "v")
    assert got["error"]["data"] == {"supported": SUPPORTED, "requested": "2099-01-01"}


@pytest.mark.parametrize("method", ["ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                                    "initialize"])
def test_404_removed_method_echoes_the_id(served: tuple[httpx.Client, str], method: str) -> None:
    client, url = served
    params = {"uri": "test://full/a"} if method.startswith("resources/") else {}
    if method == "logging/setLevel":
        params = {"level": "debug"}
    error_of(post(client, url, message(f"r-{method}", method, params)), 404, -32601, f"r-{method}")


def test_202_modern_notification(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    got = post(client, url, message(None, "notifications/initialized"))
    assert got.status_code == 202 and got.content == b""


def test_202_posted_cancelled_notification(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    got = post(client, url, message(None, "notifications/cancelled", {"requestId": 99}))
    assert got.status_code == 202 and got.content == b""


def test_202_cancelled_as_the_typescript_client_posts_it(served: tuple[httpx.Client, str]) -> None:
    """docs modern.md: closing a listen, the TypeScript client 2.4.0 POSTs `notifications/cancelled`
    with `MCP-Protocol-Version` and no `Mcp-Method`: "accept it with 202"."""
    client, url = served
    body = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 98}}
    got = client.post(url, json=body, headers=headers(body, mcp_method=None, mcp_protocol_version=VERSION))
    assert got.status_code == 202, got.text


def test_202_cancelled_with_envelope_and_no_mcp_method(served: tuple[httpx.Client, str]) -> None:
    """The same notification carrying the 2026-07-28 envelope in `_meta`, still without `Mcp-Method`."""
    client, url = served
    body = message(None, "notifications/cancelled", {"requestId": 97})
    got = post(client, url, body, mcp_method=None)
    assert got.status_code == 202, got.text


def test_400_handshake_request_with_2026_header_lists_2026_first(served: tuple[httpx.Client, str]) -> None:
    client, url = served
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": {}}
    got = client.post(url, json=body, headers=headers(body, mcp_protocol_version=VERSION))
    data = error_of(got, 400, -32022, 8)["error"]["data"]
    assert data["supported"] == SUPPORTED and data["supported"][0] == VERSION
    assert data["requested"] == VERSION
    assert VERSION_KEY not in body["params"]
