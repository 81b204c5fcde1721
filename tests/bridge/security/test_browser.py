"""Browser requests that cannot be an MCP client are refused (403, `browser_not_mcp`) before any
session or child exists; a browser client from a `--cors-origin` works over both transports.

First the rule, request by request with the headers a browser sends; then a real headless Chromium
loading a hostile page from another origin (127.0.0.1 on another port), and a page from an allowed
origin that runs a whole session with plain `fetch()` (Streamable HTTP) and `EventSource` + `fetch()`
(legacy SSE).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import HEADERS, INIT_PARAMS, request, session
from tests.support.procs import descendants

from .chromium import DevTools, Page, chromium, page_server

PAGE = "http://127.0.0.1:5173"  # a page's origin in the request-level tests (no server needed there)


def metric(base: str, name: str, **labels: str) -> float:
    text = httpx.get(base + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def fetch_headers(dest: str, mode: str, site: str, origin: str | None = None) -> dict[str, str]:
    headers = {"sec-fetch-dest": dest, "sec-fetch-mode": mode, "sec-fetch-site": site}
    return {**headers, "origin": origin} if origin else headers


INIT = request(5, "initialize", INIT_PARAMS)
REFUSED = [
    pytest.param("GET", "/sse", fetch_headers("image", "no-cors", "same-site"), id="img-sse"),
    pytest.param("GET", "/sse", fetch_headers("iframe", "navigate", "cross-site"), id="iframe-sse"),
    pytest.param("GET", "/sse", fetch_headers("document", "navigate", "none"), id="typed-url-sse"),
    pytest.param("GET", "/mcp", fetch_headers("image", "no-cors", "cross-site"), id="img-mcp"),
    pytest.param("GET", "/sse", fetch_headers("script", "no-cors", "same-site"), id="script-sse"),
    pytest.param("GET", "/sse", fetch_headers("worker", "same-origin", "same-origin"), id="worker-sse"),
    pytest.param("POST", "/mcp", fetch_headers("empty", "no-cors", "same-site", PAGE), id="no-cors-post"),
    pytest.param("POST", "/mcp", fetch_headers("iframe", "navigate", "same-site", PAGE), id="form-post"),
    pytest.param("GET", "/sse", fetch_headers("empty", "cors", "same-site", PAGE), id="cors-sse-not-cors-origin"),
    pytest.param("GET", "/sse", fetch_headers("empty", "cors", "cross-site"), id="cross-site-no-origin"),
    pytest.param("OPTIONS", "/mcp", {**fetch_headers("empty", "cors", "same-site", PAGE),
                                     "access-control-request-method": "POST"}, id="preflight-not-cors-origin"),
    pytest.param("GET", "/sse", fetch_headers("empty", "websocket", "same-site"), id="websocket-mode"),
]


@pytest.mark.parametrize(("method", "path", "headers"), REFUSED)
def test_a_browser_request_that_cannot_be_a_client_is_403_before_any_child(
    bridge: BridgeFactory, method: str, path: str, headers: dict[str, str]
) -> None:
    with bridge() as b, httpx.Client(timeout=10) as client:
        body = json.dumps(INIT) if method == "POST" else None
        sent = {**HEADERS, **headers} if method == "POST" else {"accept": "text/event-stream", **headers}
        response = client.request(method, b.url + path, content=body, headers=sent)
        assert response.status_code == 403, response.text
        error = response.json()
        assert error["jsonrpc"] == "2.0" and error["error"]["code"] == -32600
        assert error["id"] is None  # refused before the body is read
        assert "cannot be an MCP client" in error["error"]["message"]
        assert metric(b.url, "bridge_http_errors_total", status="403", reason="browser_not_mcp") == 1
        assert metric(b.url, "bridge_children_spawned_total") == 0
        assert not descendants(b.pid)


def test_browser_clients_and_other_clients_pass(bridge: BridgeFactory) -> None:
    with bridge("--cors-origin", PAGE) as b, httpx.Client(timeout=10) as client:
        url = b.url + "/mcp"
        as_fetch = fetch_headers("empty", "cors", "same-site", PAGE)
        client.headers.update(as_fetch)  # fetch() from a --cors-origin page
        with session(client, url) as session_id:
            assert session_id
        client.headers.update(fetch_headers("empty", "same-origin", "same-origin"))  # a page served with it
        with session(client, url) as session_id:
            assert session_id
        for name in ("sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "origin"):
            del client.headers[name]
        with session(client, url) as session_id:  # no fetch metadata at all: any non-browser client
            assert session_id
        with client.stream("GET", b.url + "/sse", headers={"accept": "text/event-stream", **as_fetch}) as stream:
            assert stream.status_code == 200  # EventSource from a --cors-origin page
            assert stream.headers["access-control-allow-origin"] == PAGE
        assert metric(b.url, "bridge_http_errors_total", status="403", reason="browser_not_mcp") == 0


@pytest.mark.parametrize("accept", [None, "text/html", "application/json", "image/*"])
def test_a_get_stream_that_cannot_take_an_event_stream_is_406_before_any_child(
    bridge: BridgeFactory, accept: str | None
) -> None:
    with bridge() as b:
        headers = {"accept": accept} if accept else {}
        with httpx.Client(timeout=10) as client:
            if accept is None:
                del client.headers["accept"]  # httpx sends */* unless told not to
            for path in ("/sse", "/mcp"):
                response = client.get(b.url + path, headers={**headers, "mcp-session-id": "x"} if path == "/mcp" else headers)
                assert response.status_code == 406, (path, response.text)
                assert "text/event-stream" in response.json()["error"]["message"]
            for ok in ("text/event-stream", "text/*", "*/*"):
                with client.stream("GET", b.url + "/sse", headers={"accept": ok}) as stream:
                    assert stream.status_code == 200, ok
        assert metric(b.url, "bridge_http_errors_total", status="406", reason="not_acceptable") == 2
        assert metric(b.url, "bridge_sessions_total", transport="sse") == 3


# --- a real browser ----------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    with chromium(tmp_path / "chromium" / "profile") as devtools:
        yield devtools


HOSTILE = """<!doctype html><meta charset="utf-8"><title>not an MCP client</title>
<script>
window.seen = {};
function note(name, value) { window.seen[name] = value; }
</script>
<img src="BRIDGE/sse" onload="note('img_sse', 'load')" onerror="note('img_sse', 'error')">
<img src="BRIDGE/mcp" onload="note('img_mcp', 'load')" onerror="note('img_mcp', 'error')">
<iframe src="BRIDGE/sse" onload="note('iframe_sse', 'load')"></iframe>
<script>
const init = JSON.stringify({jsonrpc: '2.0', id: 0, method: 'initialize', params: INIT_PARAMS});
const json = {'content-type': 'application/json', accept: 'application/json, text/event-stream'};
async function attempt(name, run) {
  try { note(name, await run()); } catch (e) { note(name, 'refused: ' + e.name); }
}
window.finished = (async () => {
  await attempt('no_cors_post', async () =>
    (await fetch('BRIDGE/mcp', {mode: 'no-cors', method: 'POST', headers: json, body: init})).type);
  await attempt('cors_post', async () =>
    (await fetch('BRIDGE/mcp', {method: 'POST', headers: json, body: init})).status);
  await attempt('cors_get_sse', async () =>
    (await fetch('BRIDGE/sse', {headers: {accept: 'text/event-stream'}})).status);
  await attempt('event_source', () => new Promise(resolve => {
    const source = new EventSource('BRIDGE/sse');
    source.onopen = () => { source.close(); resolve('open'); };
    source.onerror = () => { source.close(); resolve('error'); };
  }));
  const deadline = Date.now() + 10000;
  while (Object.keys(window.seen).length < 7 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  return window.seen;
})();
</script>
"""


def test_a_hostile_page_in_chromium_starts_no_child(bridge: BridgeFactory, browser: DevTools) -> None:
    pages: dict[str, str] = {}
    with bridge("--log-format", "json") as b, page_server(pages) as origin:
        pages["/hostile"] = HOSTILE.replace("BRIDGE", b.url).replace("INIT_PARAMS", json.dumps(INIT_PARAMS))
        page = Page(browser)
        page.goto(origin + "/hostile", ready="window.finished !== undefined")
        seen = page.evaluate("window.finished", timeout=30)
        assert seen == {
            "img_sse": "error", "img_mcp": "error", "iframe_sse": "load", "no_cors_post": "opaque",
            "cors_post": "refused: TypeError", "cors_get_sse": "refused: TypeError", "event_source": "error",
        }, seen
        assert metric(b.url, "bridge_children_spawned_total") == 0
        assert metric(b.url, "bridge_sessions_total", transport="sse") == 0
        assert metric(b.url, "bridge_sessions_total", transport="streamable") == 0
        assert not descendants(b.pid)
        refused = metric(b.url, "bridge_http_errors_total", status="403", reason="browser_not_mcp")
    # every request the page made reached the bridge and was refused as not an MCP client
    requests = [entry for entry in map(json.loads, (line for line in b.log().splitlines() if line.startswith("{")))
                if entry["logger"] == "bridge.access" and entry["path"] in ("/sse", "/mcp")]
    made = sorted((entry["method"], entry["path"], entry["status"]) for entry in requests)
    assert made == sorted([("GET", "/sse", 403)] * 4 + [("GET", "/mcp", 403), ("POST", "/mcp", 403),
                                                        ("OPTIONS", "/mcp", 403)]), made
    assert refused == len(made)
    assert "Traceback" not in b.log()


STREAMABLE_CLIENT = """(async () => {
  const h = {'content-type': 'application/json', accept: 'application/json, text/event-stream'};
  const last = text => {
    const data = text.split('\\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6)).filter(Boolean);
    return JSON.parse(data[data.length - 1]);
  };
  const out = {};
  let r = await fetch('BRIDGE/mcp', {method: 'POST', headers: h,
    body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'initialize', params: INIT_PARAMS})});
  out.initialize = r.status;
  const sid = r.headers.get('mcp-session-id');
  out.session = sid;
  out.protocol = last(await r.text()).result.protocolVersion;
  r = await fetch('BRIDGE/mcp', {method: 'POST', headers: {...h, 'mcp-session-id': sid},
    body: JSON.stringify({jsonrpc: '2.0', method: 'notifications/initialized'})});
  out.initialized = r.status;
  r = await fetch('BRIDGE/mcp', {method: 'POST', headers: {...h, 'mcp-session-id': sid},
    body: JSON.stringify({jsonrpc: '2.0', id: 2, method: 'tools/call',
                          params: {name: 'echo', arguments: {text: 'from chromium'}}})});
  out.call = last(await r.text()).result.content[0].text;
  r = await fetch('BRIDGE/mcp', {method: 'DELETE', headers: {'mcp-session-id': sid}});
  out.delete = r.status;
  return out;
})()"""

SSE_CLIENT = """(async () => {
  const out = {};
  const messages = [];
  const source = new EventSource('BRIDGE/sse');
  source.onmessage = event => messages.push(JSON.parse(event.data));
  const endpoint = await new Promise((resolve, reject) => {
    source.addEventListener('endpoint', event => resolve(event.data));
    source.onerror = () => reject(new Error('the EventSource failed'));
  });
  out.endpoint = endpoint;
  const post = body => fetch(new URL(endpoint, 'BRIDGE'), {method: 'POST',
    headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
  const answer = async id => {
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const found = messages.find(m => m.id === id);
      if (found) return found;
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    throw new Error('no answer to ' + id);
  };
  out.initialize = (await post({jsonrpc: '2.0', id: 1, method: 'initialize', params: INIT_PARAMS})).status;
  out.protocol = (await answer(1)).result.protocolVersion;
  out.initialized = (await post({jsonrpc: '2.0', method: 'notifications/initialized'})).status;
  out.call_post = (await post({jsonrpc: '2.0', id: 2, method: 'tools/call',
                               params: {name: 'echo', arguments: {text: 'over legacy sse'}}})).status;
  out.call = (await answer(2)).result.content[0].text;
  source.close();
  return out;
})()"""


def test_a_page_from_a_cors_origin_runs_sessions_in_chromium(bridge: BridgeFactory, browser: DevTools) -> None:
    pages = {"/app": "<!doctype html><title>an MCP client</title>"}
    with page_server(pages) as origin, bridge("--cors-origin", origin) as b:
        page = Page(browser)
        page.goto(origin + "/app")

        def run(script: str) -> dict[str, object]:
            code = script.replace("INIT_PARAMS", json.dumps(INIT_PARAMS)).replace("BRIDGE", b.url)
            result: dict[str, object] = page.evaluate(code, timeout=30)
            return result

        streamable = run(STREAMABLE_CLIENT)
        session_id = streamable.pop("session")
        assert isinstance(session_id, str) and session_id
        assert streamable == {"initialize": 200, "protocol": "2025-11-25", "initialized": 202,
                              "call": "from chromium", "delete": 204}, streamable
        sse = run(SSE_CLIENT)
        endpoint = sse.pop("endpoint")
        assert isinstance(endpoint, str) and endpoint.startswith("/messages?session_id=")
        assert sse == {"initialize": 202, "protocol": "2025-11-25", "initialized": 202, "call_post": 202,
                       "call": "over legacy sse"}, sse
        assert metric(b.url, "bridge_children_spawned_total") == 2
        assert metric(b.url, "bridge_http_errors_total", status="403", reason="browser_not_mcp") == 0
    assert "Traceback" not in b.log()
