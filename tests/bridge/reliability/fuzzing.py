"""Property-based fuzzing of a running bridge, shared by tests/bridge/reliability/test_fuzz.py and
`bench/soak.py`: hypothesis strategies for whole HTTP requests, and a `FuzzTarget` that sends one,
reads the answer (briefly, for event streams) and checks what every answer must satisfy.

A case is one well-formed HTTP/1.1 request (header values are RFC 9110 field values: visible ASCII,
obs-text bytes 0x80-0xFF, spaces and tabs) with anything in it: any method and path, malformed
bodies (random bytes, bad UTF-8, deep nesting, huge numbers, truncated JSON, wrong types for
id/method/params, batches, empty), odd Content-Type / Accept / Mcp-Session-Id / MCP-Protocol-Version
/ Origin / Host values, and session ids that are random or those of live sessions (so malformed
messages also reach a real child). Checks: never a 5xx; every non-empty error body is a JSON-RPC
error object; every event on a stream is a JSON-RPC message; 202/204 answers are empty.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import orjson
from hypothesis import strategies as st

from tests.bridge.reliability.clients import ACCEPT, EventParser

# Placeholders a case names instead of a session id; the target resolves them to live sessions.
LIVE = "<live streamable session>"
LIVE_BATCH = "<live streamable session at 2025-03-26>"
LIVE_SSE = "<live legacy SSE session>"
HANDSHAKE_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
MAX_BODY = 65536
REQUEST_TIMEOUT = 2.0
KEEPALIVE = 0.5
FUZZ_OPTIONS = ["--max-sessions", "200", "--max-body-size", str(MAX_BODY), "--request-timeout", str(REQUEST_TIMEOUT),
                "--keepalive", str(KEEPALIVE), "--idle-timeout", "600"]
"""How the fuzzed bridge runs: small limits so every answer is due soon."""
CASE_DEADLINE = REQUEST_TIMEOUT + 3.0
"""No answer stream may stay open longer: the request timeout has answered every request by then."""

# ----- strategies ----------------------------------------------------------------------------

FIELD_BYTES = bytes([9, *range(32, 127), *range(128, 256)])
field_values = st.lists(st.sampled_from(FIELD_BYTES), max_size=60).map(lambda b: bytes(b).strip(b" \t"))

json_leaves = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_leaves,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)
ids = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=12), st.none(), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=2**64, max_value=2**80), json_values,
)
METHODS = [
    "initialize", "ping", "tools/list", "tools/call", "notifications/initialized", "notifications/cancelled",
    "notifications/progress", "notifications/message", "server/discover", "resources/read", "logging/setLevel",
    "sampling/createMessage", "", "x" * 300,
]
methods = st.one_of(st.sampled_from(METHODS), st.text(max_size=30), json_leaves)
metas = st.fixed_dictionaries({}, optional={"progressToken": json_values})
params = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.sampled_from(["echo", "blob", "pid", "nope"]), json_leaves),
        "arguments": json_values,
        "_meta": st.one_of(metas, json_values),
        "requestId": ids,
        "protocolVersion": st.one_of(st.sampled_from([*HANDSHAKE_VERSIONS, "2026-07-28"]), json_leaves),
        "capabilities": json_values,
        "clientInfo": json_values,
        "progressToken": json_values,
    }),
)
messages = st.fixed_dictionaries({}, optional={
    "jsonrpc": st.one_of(st.sampled_from(["2.0", "1.0", ""]), json_leaves),
    "id": ids,
    "method": methods,
    "params": params,
    "result": json_values,
    "error": json_values,
})

# Messages one field away from right, so malformed content gets past the HTTP checks to the session.
TEMPLATES: list[dict[str, Any]] = [
    {"jsonrpc": "2.0", "id": 1, "method": "ping"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 3, "result": {}},
    {"jsonrpc": "2.0", "id": 0, "method": "initialize",
     "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}},
]
plausible_messages = st.one_of(
    st.builds(lambda base, patch: {**base, **patch}, st.sampled_from(TEMPLATES),
              st.dictionaries(st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error"]),
                              st.one_of(ids, methods, params), max_size=2)),
    st.builds(lambda id_, token, args: {"jsonrpc": "2.0", "id": id_, "method": "tools/call",
                                        "params": {"name": "echo", "arguments": args, "_meta": {"progressToken": token}}},
              ids, json_values, st.one_of(st.just({"text": "t"}), json_values)),
    st.builds(lambda request_id: {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                  "params": {"requestId": request_id}}, ids),
)

initializes = st.builds(
    lambda id_, version, extra: {"jsonrpc": "2.0", "id": id_, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}, **extra}},
    st.one_of(st.integers(min_value=0, max_value=2**31), st.text(max_size=8), ids),
    st.one_of(st.sampled_from([*HANDSHAKE_VERSIONS, "2026-07-28"]), json_leaves),
    st.dictionaries(st.sampled_from(["capabilities", "clientInfo", "_meta"]), json_values, max_size=2),
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _bad_utf8(data: bytes, junk: bytes) -> bytes:
    """`data` with invalid UTF-8 bytes put inside its first string (or in front)."""
    quote = data.find(b'"')
    return data[: quote + 1] + junk + data[quote + 1:] if quote >= 0 else junk + data


bodies = st.one_of(
    plausible_messages.map(_dumps),
    plausible_messages.map(_dumps),
    plausible_messages.map(_dumps),
    messages.map(_dumps),
    st.lists(st.one_of(plausible_messages, messages, json_values), max_size=4).map(_dumps),  # batches
    json_values.map(_dumps),
    st.binary(max_size=300),
    st.tuples(messages.map(_dumps), st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]))
    .map(lambda t: _bad_utf8(*t)),
    st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(min_value=20, max_value=5000).map(lambda n: b'{"jsonrpc":"2.0","id":' + b"9" * n + b',"method":"ping"}'),
    st.sampled_from([b"", b" ", b"\n", b"{}{}", b"null", b"[]", b'"\\ud800"', b"1e999999", b"-0", b"{\"id\":1e400}",
                     b"\xef\xbb\xbf{}", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} x"]),
    messages.map(_dumps).flatmap(lambda b: st.integers(min_value=0, max_value=len(b)).map(lambda i: b[:i])),
    st.integers(min_value=MAX_BODY - 100, max_value=MAX_BODY + 100).map(
        lambda n: b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"p" * n + b'"}}'),
)

content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/json;",
                     "application/jsonx", "text/plain", "text/event-stream", "multipart/form-data; boundary=x",
                     "application/*", "application/json, text/plain"]).map(str.encode),
    field_values,
)
accepts = st.one_of(
    st.sampled_from([ACCEPT, "text/event-stream", "application/json", "*/*", "text/*, application/*", "text/html",
                     "application/json;q=0, text/event-stream;q=0", "TEXT/EVENT-STREAM, APPLICATION/JSON"]).map(str.encode),
    field_values,
)
visible_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=50)
session_ids = st.one_of(st.sampled_from([LIVE, LIVE, LIVE_BATCH, LIVE_SSE]), field_values, visible_text)
versions = st.one_of(st.sampled_from([*HANDSHAKE_VERSIONS, "2026-07-28", "1999-01-01", "2025-11-25x"]), field_values)
origins = st.one_of(st.sampled_from(["http://127.0.0.1", "http://localhost", "http://evil.example", "null"]), field_values)
hosts = st.one_of(st.sampled_from(["evil.example", "localhost", "127.0.0.1", "[::1]:80", "127.0.0.1:1"]), field_values)
header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~", min_size=1, max_size=20)
query_parts = st.one_of(
    st.sampled_from([f"session_id={LIVE_SSE}", "session_id=", "session_id", "session_id=a&session_id=b", ""]),
    st.binary(max_size=40).map(lambda b: "session_id=" + quote_from_bytes(b)),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&%+;/?:@-._~!$'()*,", max_size=40),
)

ENDPOINTS: dict[str, list[tuple[str, str]]] = {
    "mcp": [("POST", "/mcp")] * 5 + [("GET", "/mcp"), ("DELETE", "/mcp")],
    "sse": [("POST", "/messages")] * 4 + [("GET", "/sse"), ("POST", "/sse"), ("GET", "/messages")],
    "other": [("PUT", "/mcp"), ("PATCH", "/mcp"), ("OPTIONS", "/mcp"), ("HEAD", "/mcp"), ("HEAD", "/sse"),
              ("DELETE", "/sse"), ("PUT", "/messages"), ("GET", "/healthz"), ("POST", "/healthz"),
              ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/metrics"), ("GET", "/"), ("POST", "/"),
              ("GET", "/mcp/"), ("POST", "/mcp/x"), ("GET", "/sse/"), ("POST", "/messages/"),
              ("GET", "/nothing-here"), ("POST", "/%2e%2e/etc/passwd"), ("GET", "//mcp"), ("TRACE", "/mcp"),
              ("POST", "/mcp"), ("GET", "/mcp"), ("DELETE", "/mcp"), ("GET", "/sse"), ("POST", "/messages")],
}


@dataclass
class Case:
    method: str
    path: str
    query: str
    headers: dict[str, bytes | str]
    body: bytes | None
    chunked: bool


def header_pairs(headers: dict[str, bytes | str]) -> list[tuple[bytes, bytes]]:
    """The headers as byte pairs: httpx takes a mix of str and bytes values, but its types want one kind,
    so str is encoded here just as httpx would (ASCII)."""
    return [(name.encode("ascii"), value if isinstance(value, bytes) else value.encode("ascii"))
            for name, value in headers.items()]


def pick(draw: st.DrawFn, right: Any, percent: int, wrong: st.SearchStrategy[Any], absent: int = 5) -> Any:
    """`right` in about `percent` % of cases, None (absent) in `absent` %, else a draw from `wrong`."""
    n = draw(st.integers(min_value=0, max_value=99))
    if n < percent:
        return right
    return None if n < percent + absent else draw(wrong)


@st.composite
def cases(draw: st.DrawFn, group: str) -> Case:
    method, path = draw(st.sampled_from(ENDPOINTS[group]))
    headers: dict[str, bytes | str] = {}
    for name, right, percent, wrong in (
        ("content-type", "application/json", 85, content_types),
        ("accept", ACCEPT, 85, accepts),
        ("mcp-session-id", LIVE, 55, session_ids),
        ("mcp-protocol-version", "2025-11-25", 40, versions),
    ):
        absent = {"content-type": 5, "accept": 5, "mcp-session-id": 20}.get(name, 10)
        value = pick(draw, right, percent, wrong, absent)
        if value is not None:
            headers[name] = value
    if group == "other":  # the security layer's headers and random ones, on odd and regular endpoints
        for name, strategy in (("origin", origins), ("host", hosts)):
            value = draw(st.one_of(st.none(), strategy))
            if value is not None:
                headers[name] = value
        for name, value in draw(st.dictionaries(header_names, field_values, max_size=3)).items():
            if name.lower() not in ("host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"):
                headers.setdefault(name.lower(), value)
    body = draw(bodies) if method in ("POST", "PUT", "PATCH", "DELETE") or draw(st.booleans()) else None
    if path == "/mcp" and method == "POST" and "mcp-session-id" not in headers and draw(st.booleans()):
        body = _dumps(draw(initializes))  # mostly a new session: made, then deleted by the target
    if method == "HEAD":
        body = None
    if path == "/messages":
        query = pick(draw, f"session_id={LIVE_SSE}", 70, query_parts, absent=0)
    else:
        query = pick(draw, "", 90, query_parts, absent=0)
    return Case(method, path, query, headers, body, chunked=body is not None and draw(st.booleans()))


# ----- the target ----------------------------------------------------------------------------


class Violation(AssertionError):
    """An answer the bridge must never give."""


def check_error_body(status: int, content_type: str, body: bytes) -> None:
    """A non-empty error body is a JSON-RPC error object."""
    if not body:
        return
    if not content_type.startswith("application/json"):
        raise Violation(f"{status} with a {content_type!r} body: {body[:200]!r}")
    try:
        value = json_value(body)
    except ValueError:
        raise Violation(f"{status} with a body that is not JSON: {body[:200]!r}") from None
    error = value.get("error") if isinstance(value, dict) else None
    if not (isinstance(value, dict) and value.get("jsonrpc") == "2.0" and "id" in value and isinstance(error, dict)
            and type(error.get("code")) is int and isinstance(error.get("message"), str)):
        raise Violation(f"{status} with a body that is not a JSON-RPC error object: {body[:300]!r}")
    if not (value["id"] is None or (isinstance(value["id"], (str, int, float)) and not isinstance(value["id"], bool))):
        raise Violation(f"{status}: a JSON-RPC error whose id is not a string, number or null: {body[:300]!r}")


def json_value(data: bytes) -> Any:
    """One JSON value, as strict as the grammar: orjson, then the standard library for what orjson
    cannot hold (integers beyond 64 bits, which the bridge echoes as the client wrote them)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data, parse_constant=_not_json)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_event_messages(data: bytes, where: str) -> int:
    """Every event of an SSE body is one JSON-RPC message object; their count."""
    count = 0
    parser = EventParser()
    for name, payload in parser.feed(data + b"\n\n"):
        if name == "endpoint":
            continue
        try:
            message = json_value(payload)
        except ValueError:
            raise Violation(f"{where}: an event that is not JSON: {payload[:200]!r}") from None
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise Violation(f"{where}: an event that is not a JSON-RPC message: {payload[:200]!r}")
        count += 1
    return count


@dataclass
class Stats:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0  # 5xx answers (each is also a failure)
    sse_opened: int = 0  # fuzzed GET /sse that opened a session
    sessions_minted: int = 0  # fuzzed initialize POSTs that made a session (deleted right after)
    live_recreated: int = 0
    events_checked: int = 0

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (f"cases={self.cases} 5xx={self.server_errors} sse_opened={self.sse_opened} "
                f"sessions_minted={self.sessions_minted} live_recreated={self.live_recreated} "
                f"events_checked={self.events_checked} statuses={{{statuses}}}")


class SseListener:
    """A live legacy SSE session held open by a thread that checks every event on its stream."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session_id = ""
        self.events = 0
        self.violations: list[str] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError("the live SSE session did not open")

    def _run(self) -> None:
        try:
            self._listen()
        except Exception as exc:
            self.violations.append(f"the live SSE listener failed: {exc!r}")
        finally:
            self.ended.set()

    def _listen(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(30.0)) as client, client.stream("GET", self.base_url + "/sse") as r:
            parser = EventParser()
            for chunk in r.iter_raw():
                for name, data in parser.feed(chunk):
                    if name == "endpoint":
                        self.session_id = data.decode().rsplit("session_id=", 1)[1]
                        self.ready.set()
                        continue
                    try:
                        check_event_messages(b"event: " + name.encode() + b"\ndata: " + data, "live SSE stream")
                        self.events += 1
                    except Violation as exc:
                        self.violations.append(str(exc))
                if self.stop.is_set():  # keep-alives wake this loop at least every --keepalive
                    return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


class FuzzTarget:
    """One running bridge, live sessions to aim at, and the checks; `run(case)` per example."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(timeout=httpx.Timeout(CASE_DEADLINE + 5.0, connect=5.0))
        self.stats = Stats()
        self._live: dict[str, str] = {}
        self.sse = SseListener(base_url)

    def __enter__(self) -> FuzzTarget:
        self.sse.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for session_id in self._live.values():
            with contextlib.suppress(httpx.HTTPError):
                self.client.delete(self.base_url + "/mcp", headers={"mcp-session-id": session_id})
        self.sse.close()
        self.client.close()

    @property
    def live_streamable_sessions(self) -> int:
        return len(self._live)

    def live(self, which: str) -> str:
        """A live Streamable session's id (made again if a fuzzed DELETE ended it)."""
        if which == LIVE_SSE:
            return self.sse.session_id
        if which not in self._live:
            version = "2025-03-26" if which == LIVE_BATCH else "2025-11-25"
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}}
            response = self.client.post(self.base_url + "/mcp", json=init,
                                        headers={"accept": ACCEPT, "content-type": "application/json"})
            if response.status_code != 200:
                raise RuntimeError(f"could not open a live session: {response.status_code} {response.text[:200]}")
            self._live[which] = response.headers["mcp-session-id"]
            self.stats.live_recreated += 1
        return self._live[which]

    def _resolve(self, value: bytes | str) -> bytes | str:
        if isinstance(value, str):
            for placeholder in (LIVE, LIVE_BATCH, LIVE_SSE):
                value = value.replace(placeholder, self.live(placeholder))
        return value

    def run(self, case: Case) -> None:
        self.stats.cases += 1
        headers = {name: self._resolve(value) for name, value in case.headers.items()}
        query = str(self._resolve(case.query))
        url = self.base_url + case.path + (f"?{query}" if query else "")
        content: bytes | Iterator[bytes] | None = case.body
        if case.chunked and case.body is not None:
            body = case.body
            content = iter([body[: len(body) // 2], body[len(body) // 2:]])
        with self.client.stream(case.method, url, headers=header_pairs(headers), content=content) as response:
            status = response.status_code
            self.stats.statuses[status] += 1
            content_type = response.headers.get("content-type", "")
            streaming = status == 200 and content_type.startswith("text/event-stream")
            if streaming and case.method == "GET":  # a stream that stays open: read its start only
                data = b""
                if case.path == "/sse":  # a new session: its endpoint event comes at once
                    data = self._first_events(response)
                    self.stats.sse_opened += 1
            elif streaming:
                data = self._within_deadline(response, case)
            else:
                data = response.read()
            minted = response.headers.get("mcp-session-id")
        if status >= 500:
            self.stats.server_errors += 1
            raise Violation(f"{case.method} {case.path}: {status} {content_type!r} {data[:300]!r}")
        if status >= 400:
            check_error_body(status, content_type, data)
        elif status in (202, 204) and data:
            raise Violation(f"{status} with a body: {data[:200]!r}")
        elif streaming:
            self.stats.events_checked += check_event_messages(data, f"{case.method} {case.path}")
        if minted and case.method == "POST" and "mcp-session-id" not in case.headers:
            self.stats.sessions_minted += 1  # a fuzzed initialize made a session: give it back
            self.client.delete(self.base_url + "/mcp", headers={"mcp-session-id": minted})
        if case.method == "DELETE" and status == 204:
            ended = headers.get("mcp-session-id")
            self._live = {k: v for k, v in self._live.items() if v != ended}

    @staticmethod
    def _within_deadline(response: httpx.Response, case: Case) -> bytes:
        """A POST's event stream, read whole; a Violation if it is still open after CASE_DEADLINE
        (keep-alives, every --keepalive second, wake the loop even when nothing else comes)."""
        deadline = time.monotonic() + CASE_DEADLINE
        pieces: list[bytes] = []
        for chunk in response.iter_raw():
            pieces.append(chunk)
            if time.monotonic() > deadline:
                raise Violation(f"{case.method} {case.path}: the answer stream is still open after "
                                f"{CASE_DEADLINE:g}s (request timeout {REQUEST_TIMEOUT:g}s); so far: "
                                f"{b''.join(pieces)[:300]!r}")
        return b"".join(pieces)

    @staticmethod
    def _first_events(response: httpx.Response) -> bytes:
        """The first piece of an open stream (an SSE session's endpoint event, a priming event)."""
        for chunk in response.iter_raw():
            return chunk
        return b""
