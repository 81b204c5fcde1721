"""Black-box tests for defects of the bridge: real `bridge run` processes on 127.0.0.1, real children
(`children/`), raw HTTP or the `mcp` SDK's own clients.

1. A deaf child (answers `initialize`, then never reads stdin): every request still gets its own
   timeout error, the session ends by idle timeout, and SIGTERM ends the bridge within its graces.
2. A request body cut short by the client leaves no traceback, and the bridge serves on.
3. A too-large POST over legacy SSE is 413 and its id gets an error on the SSE stream (raw, SDK).
4. A cancelled request in --json-response mode is answered with a JSON-RPC error, not a bare 202.
5. Messages pass through byte for byte except the id, both ways, on every transport; a
   pretty-printed body reaches the child as one line.

After each test no child of the bridge may be left and the bridge's log may hold no traceback
(the `run` fixture); every process a bridge ever had is killed at teardown even when a test fails.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import pytest
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp import ClientSession, MCPError
from mcp.client.sse import sse_client

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.children import recorder
from tests.bridge.core.raw import INIT_PARAMS, call, request
from tests.support.procs import LOG_PROBLEMS, Started, Watch, assert_log_clean, descendants

pytestmark = pytest.mark.timeout(150)

CHILDREN = Path(__file__).resolve().parent / "children"
DEAF_ARGV = [sys.executable, str(CHILDREN / "deaf.py")]
BOTH = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
JSON_CT = {"content-type": "application/json"}

Event = tuple[bytes, bytes]  # (event name, data) of one SSE event
Run = Callable[..., contextlib.AbstractContextManager[Started]]


def recorder_argv(record: Path) -> list[str]:
    return [sys.executable, str(CHILDREN / "recorder.py"), str(record)]


# ----- processes and logs -------------------------------------------------------------------------


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def run(bridge: BridgeFactory) -> Iterator[Run]:
    """`with run(*options, child=argv) as b:` — the `bridge` fixture's bridge, and then: none of its
    children is left (also ones it re-parented by exiting) and its log holds no traceback."""
    watch = Watch()

    @contextlib.contextmanager
    def start(*options: str, child: Sequence[str] | None = None) -> Iterator[Started]:
        with bridge(*options, child=child) as b:
            watch.add(b.pid)
            yield b
        left = watch.left(10.0)
        assert not left, f"children of the bridge still running after it stopped: {left}\n{b.log()[-3000:]}"
        assert_log_clean(b.log())

    try:
        yield start
    finally:
        watch.end()


def child_pid(b: Started) -> int:
    found = descendants(b.pid)
    assert len(found) == 1, f"expected one child of the bridge, found {[p.pid for p in found]}"
    return found[0].pid


def wait_exit(proc: subprocess.Popen[bytes], within: float) -> int | None:
    try:
        return proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        return None


# ----- HTTP and SSE -------------------------------------------------------------------------------


def sse_events(raw: bytes) -> list[Event]:
    """The events of a whole SSE body, data as bytes (comments and events without data skipped)."""
    found: list[Event] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        event = _event(block)
        if event is not None:
            found.append(event)
    return found


def _event(block: bytes) -> Event | None:
    name = b"message"
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        key, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if key == b"event":
            name = value
        elif key == b"data":
            data.append(value)
    joined = b"\n".join(data)
    return (name, joined) if joined else None


def messages_of(response: httpx.Response) -> list[bytes]:
    """The raw messages of a request POST's answer: a JSON body, or the data of its SSE events."""
    assert response.status_code == 200, f"{response.status_code}: {response.content[:500]!r}"
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return [response.content]
    assert kind.startswith("text/event-stream"), kind
    return [data for name, data in sse_events(response.content) if name == b"message"]


def is_answer(raw: bytes) -> bool:
    try:
        message = json.loads(raw)
    except ValueError:
        return False
    return isinstance(message, dict) and "id" in message and "method" not in message


def unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception of (nested) task groups' groups (the test's own failure), else the group."""
    while len(group.exceptions) == 1:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner
    return group


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    """Collect a test's garbage at its end, its ResourceWarnings ignored (anyio memory streams the
    SDK leaves unclosed when a call is cancelled). Collected later, at random, such a warning can
    fire while pytest parses source to show a failure, which trips a CPython 3.11 bug (pytest
    INTERNALERROR "AST constructor recursion depth mismatch")."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@contextlib.asynccontextmanager
async def event_stream(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[httpx.Response, MemoryObjectReceiveStream[Event]]]:
    """A GET SSE stream whose events a task reads into a queue (it closes when the stream ends)."""
    send, receive = anyio.create_memory_object_stream[Event](1000)
    timeout = httpx.Timeout(10.0, read=None)  # silence is fine: every wait on it is bounded by the test
    async with client.stream("GET", url, headers=headers, timeout=timeout) as response:

        async def pump() -> None:
            async with send:
                buffer = b""
                async for chunk in response.aiter_bytes():
                    buffer = (buffer + chunk).replace(b"\r\n", b"\n")
                    *blocks, buffer = buffer.split(b"\n\n")
                    for block in blocks:
                        event = _event(block)
                        if event is not None:
                            await send.send(event)

        try:
            async with receive, anyio.create_task_group() as tg:
                tg.start_soon(pump)
                yield response, receive
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise unwrap(group) from None


async def next_event(events: MemoryObjectReceiveStream[Event], within: float, what: str) -> Event:
    try:
        with anyio.fail_after(within):
            return await events.receive()
    except TimeoutError:
        pytest.fail(f"no SSE event within {within:g}s: {what}")
    except anyio.EndOfStream:
        pytest.fail(f"the SSE stream ended: {what}")


async def initialize(client: httpx.AsyncClient, url: str, headers: Mapping[str, str] = BOTH) -> str:
    """A Streamable HTTP session (either response mode), after `notifications/initialized`; its id."""
    got = await client.post(url, json=request(0, "initialize", INIT_PARAMS), headers=headers)
    answer = json.loads(messages_of(got)[-1])
    assert answer["result"]["protocolVersion"] == INIT_PARAMS["protocolVersion"], answer
    session_id = got.headers["mcp-session-id"]
    note = await client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                             headers={**headers, "mcp-session-id": session_id})
    assert note.status_code == 202, note.text
    return session_id


def read_record(path: Path) -> tuple[list[bytes], list[bytes]]:
    """(lines the recorder child read, lines it wrote), in order."""
    ins: list[bytes] = []
    outs: list[bytes] = []
    data = path.read_bytes() if path.exists() else b""
    for line in data.split(b"\n")[:-1]:  # the last piece is unfinished (or empty)
        (ins if line.startswith(b"< ") else outs).append(line[2:])
    return ins, outs


async def child_read(path: Path, check: Callable[[dict[str, Any]], bool], within: float = 10.0) -> dict[str, Any]:
    """The first message the recorder child read that satisfies `check`, waiting for it."""
    with anyio.fail_after(within):
        while True:
            for line in read_record(path)[0]:
                with contextlib.suppress(ValueError):
                    message = json.loads(line)
                    if isinstance(message, dict) and check(message):
                        return message
            await anyio.sleep(0.05)


# ----- 1. a deaf child ----------------------------------------------------------------------------

REQUEST_TIMEOUT = 2.0
IDLE_TIMEOUT = 4.0
SHUTDOWN_GRACE = 1.0
KILL_GRACE = 1.0
DEAF_OPTIONS = ("--request-timeout", f"{REQUEST_TIMEOUT:g}", "--idle-timeout", f"{IDLE_TIMEOUT:g}",
                "--kill-grace", f"{KILL_GRACE:g}", "--shutdown-grace", f"{SHUTDOWN_GRACE:g}")
ANSWER_WITHIN = REQUEST_TIMEOUT + 1.5  # from the request's send to its whole answer
EXIT_WITHIN = SHUTDOWN_GRACE + KILL_GRACE + 1.5  # from SIGTERM to the bridge's exit


@dataclass
class Sent:
    """One request POST and what became of it."""

    id: int
    text: str
    sent_at: float = 0.0
    took: float | None = None
    response: httpx.Response | None = None
    failure: str = ""
    done: anyio.Event = field(default_factory=anyio.Event)

    def outcome(self) -> str:
        if self.response is None:
            return f"id {self.id} ({len(self.text)} bytes): {self.failure or 'no answer'}"
        return (f"id {self.id} ({len(self.text)} bytes): {self.response.status_code} after {self.took:.2f}s: "
                f"{self.response.content[:300]!r}")


def timed_out_in_time(sent: Sent) -> bool:
    """Whether the POST got its own timeout error (-32001) within `ANSWER_WITHIN` of its send."""
    if sent.response is None or sent.response.status_code != 200 or sent.took is None:
        return False
    answer = json.loads(messages_of(sent.response)[-1])
    return bool(sent.took <= ANSWER_WITHIN and answer.get("id") == sent.id
                and (answer.get("error") or {}).get("code") == -32001)


async def post_call(client: httpx.AsyncClient, url: str, session_id: str, sent: Sent, patience: float) -> None:
    sent.sent_at = time.monotonic()
    try:
        sent.response = await client.post(url, content=json.dumps(call(sent.id, "echo", text=sent.text)).encode(),
                                          headers={**BOTH, "mcp-session-id": session_id}, timeout=patience)
    except httpx.HTTPError as exc:
        sent.failure = f"{type(exc).__name__} after {time.monotonic() - sent.sent_at:.2f}s"
    else:
        sent.took = time.monotonic() - sent.sent_at
    finally:
        sent.done.set()


async def stuck_calls(
    client: httpx.AsyncClient, url: str, session_id: str, tg: TaskGroup, patience: float
) -> list[Sent]:
    """A ~1 MB call (its write to the deaf child cannot complete), then two small ones; the client
    gives each `patience` seconds."""
    calls = [Sent(1, "x" * 1_000_000), Sent(2, "small"), Sent(3, "small too")]
    tg.start_soon(post_call, client, url, session_id, calls[0], patience)
    await anyio.sleep(0.3)  # the large one is in the bridge (writing to the child) before the others
    for sent in calls[1:]:
        tg.start_soon(post_call, client, url, session_id, sent, patience)
    return calls


async def wait_session_gone(client: httpx.AsyncClient, url: str, session_id: str, within: float) -> None:
    """Until a GET with the session id is 404. A GET stream is no activity (unlike a request, which
    would keep the session from going idle): it stays open until the session ends."""
    headers = {"accept": "text/event-stream", "mcp-session-id": session_id}
    try:
        with anyio.fail_after(within):
            while True:
                async with event_stream(client, url, headers) as (response, events):
                    if response.status_code == 404:
                        return
                    assert response.status_code == 200, response.status_code
                    async for _ in events:
                        pass  # until the stream ends
    except TimeoutError:
        pytest.fail(f"the session was still there {within:g}s after its requests timed out (no idle end)")


@pytest.mark.anyio
async def test_deaf_child_every_request_times_out_then_the_session_idles_out(run: Run) -> None:
    with run(*DEAF_OPTIONS, child=DEAF_ARGV) as b:
        url = b.url + "/mcp"
        async with httpx.AsyncClient(timeout=10) as client:
            with anyio.fail_after(30):
                session_id = await initialize(client, url)
                pid = child_pid(b)
                async with anyio.create_task_group() as tg:
                    calls = await stuck_calls(client, url, session_id, tg, 10.0)
            problems = [sent.outcome() for sent in calls if not timed_out_in_time(sent)]
            assert not problems, (f"each request should get its own timeout error (-32001) within {ANSWER_WITHIN:g}s "
                                  "of being sent:\n" + "\n".join(problems))
            await wait_session_gone(client, url, session_id, 15.0)
            late = await client.post(url, json=call(9, "echo", text="late"),
                                     headers={**BOTH, "mcp-session-id": session_id})
            assert late.status_code == 404, late.text
        deadline = time.monotonic() + 10
        while running(pid) and time.monotonic() < deadline:  # noqa: ASYNC110 (another process)
            await anyio.sleep(0.05)
        assert not running(pid), "the deaf child outlived its session"


@pytest.mark.anyio
async def test_sigterm_with_a_deaf_child_exits_in_time_and_cleanly(run: Run) -> None:
    with run(*DEAF_OPTIONS, child=DEAF_ARGV) as b:
        url = b.url + "/mcp"
        async with httpx.AsyncClient(timeout=10) as client:
            with anyio.fail_after(30):
                session_id = await initialize(client, url)
                pid = child_pid(b)
            async with anyio.create_task_group() as tg:
                await stuck_calls(client, url, session_id, tg, 60.0)  # a client that waits its answers
                await anyio.sleep(0.5)  # in flight, and well before their request timeout
                os.kill(b.pid, signal.SIGTERM)
                signalled = time.monotonic()
                code = await anyio.to_thread.run_sync(wait_exit, b.proc, EXIT_WITHIN + 40.0)
                took = time.monotonic() - signalled
                tg.cancel_scope.cancel()
        log = b.log()
        problems = []
        if code != 0 or took > EXIT_WITHIN:
            ended = f"exited with code {code}" if code is not None else "was still running"
            problems.append(f"the bridge {ended} {took:.1f}s after SIGTERM (expected code 0 within {EXIT_WITHIN:g}s)")
        if running(pid):
            problems.append(f"the deaf child {pid} is still running after the bridge exited")
        problems += [f"the bridge logged {marker!r}" for marker in LOG_PROBLEMS if marker in log]
        assert not problems, "\n".join(problems) + "\n" + log[-4000:]


# ----- 2. a request body cut short ----------------------------------------------------------------


def test_body_cut_short_leaves_no_traceback_and_the_bridge_serves_on(run: Run) -> None:
    with run() as b:
        port = int(b.url.rsplit(":", 1)[1])
        head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head + b'{"jsonrpc":"2.0","id":1,"method":"initialize"')
            time.sleep(0.3)  # the bridge is reading the body when the client goes
        with httpx.Client(timeout=20) as client:
            url = b.url + "/mcp"
            got = client.post(url, json=request(0, "initialize", INIT_PARAMS), headers=BOTH)
            session_id = got.headers["mcp-session-id"]
            assert json.loads(messages_of(got)[-1])["result"]["protocolVersion"] == INIT_PARAMS["protocolVersion"]
            headers = {**BOTH, "mcp-session-id": session_id}
            note = client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
            assert note.status_code == 202
            tools = json.loads(messages_of(client.post(url, json=request(1, "tools/list"), headers=headers))[-1])
            assert tools["id"] == 1 and tools["result"]["tools"], tools
            client.delete(url, headers={"mcp-session-id": session_id})
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            assert_log_clean(b.log())
            time.sleep(0.1)


# ----- 3. a too-large request over legacy SSE -----------------------------------------------------

BODY_LIMIT = 65536


def too_large_call(id_: int, size: int) -> bytes:
    return (b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"' % id_
            + b"z" * size + b'"}}}')


@pytest.mark.anyio
async def test_too_large_sse_post_is_413_and_its_id_gets_an_error_on_the_stream(run: Run) -> None:
    with run("--max-body-size", str(BODY_LIMIT)) as b:
        async with httpx.AsyncClient(timeout=10) as client, event_stream(client, b.url + "/sse") as (response, events):
            assert response.status_code == 200
            name, endpoint = await next_event(events, 10, "the endpoint event")
            assert name == b"endpoint"
            url = b.url + endpoint.decode()
            init = request(0, "initialize", {**INIT_PARAMS, "protocolVersion": "2024-11-05"})
            assert (await client.post(url, json=init)).status_code == 202
            assert json.loads((await next_event(events, 10, "the initialize answer"))[1])["id"] == 0
            initialized = await client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            assert initialized.status_code == 202

            refused = await client.post(url, content=too_large_call(7, 100_000), headers=JSON_CT)
            assert refused.status_code == 413, refused.text
            _, data = await next_event(events, 1.0, "a JSON-RPC error for id 7 after its POST got 413")
            error = json.loads(data)
            assert error.get("id") == 7 and isinstance((error.get("error") or {}).get("code"), int), error

            assert (await client.post(url, json=call(8, "echo", text="after"))).status_code == 202
            after = json.loads((await next_event(events, 10, "the answer to id 8"))[1])
            assert after["id"] == 8 and after["result"]["content"][0]["text"] == "after", after


@pytest.mark.anyio
async def test_sdk_sse_client_gets_an_error_for_a_too_large_call(run: Run) -> None:
    """The SDK's call must fail promptly with MCPError, not wait for its read timeout.

    (mcp 2.3's `sse_client` stops sending altogether after any non-2xx answer to a POST, so the
    same SDK session cannot be used after a 413; that the bridge's session goes on is checked raw,
    in the test above.)
    """
    failure = ""
    with run("--max-body-size", str(BODY_LIMIT)) as b:
        try:
            with anyio.fail_after(60):
                async with sse_client(b.url + "/sse") as (read, write), \
                        ClientSession(read, write, read_timeout_seconds=30) as session:
                    with anyio.fail_after(10):
                        await session.initialize()
                        small = await session.call_tool("echo", {"text": "small"})
                        assert small.content[0].text == "small"  # type: ignore[union-attr]
                    try:
                        with anyio.fail_after(10):
                            await session.call_tool("echo", {"text": "z" * 100 * 1024})
                        failure = "the too-large call succeeded"
                    except MCPError:
                        pass  # as it should
                    except TimeoutError:
                        failure = ("no MCPError within 10s for a call the bridge refused with 413: the call is "
                                   "left waiting for an answer that never comes")
        except BaseExceptionGroup as group:  # the SDK's task groups wrap the test's own failure
            raise unwrap(group) from None
    if failure:
        pytest.fail(failure)  # raised out here, the SDK's frames are no longer referenced


# ----- 4. a cancel in JSON-response mode ----------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_in_json_response_mode_answers_the_request_with_an_error(run: Run, tmp_path: Path) -> None:
    record = tmp_path / "record"
    with run("--json-response", child=recorder_argv(record)) as b:
        url = b.url + "/mcp"
        async with httpx.AsyncClient(timeout=10) as client:
            with anyio.fail_after(30):
                session_id = await initialize(client, url)
                headers = {**BOTH, "mcp-session-id": session_id}
                held = Sent(5, "")

                async def hold() -> None:
                    held.sent_at = time.monotonic()
                    try:
                        held.response = await client.post(url, json=call(5, "hold"), headers=headers)
                    finally:
                        held.done.set()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(hold)
                    got = await child_read(record, lambda m: m.get("method") == "tools/call")
                    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                              "params": {"requestId": 5, "reason": "the user changed their mind"}}
                    sent_cancel = await client.post(url, json=cancel, headers=headers)
                    assert sent_cancel.status_code == 202, sent_cancel.text
                    with anyio.fail_after(5):
                        await held.done.wait()
                forwarded = await child_read(record, lambda m: m.get("method") == "notifications/cancelled")
                await client.delete(url, headers={"mcp-session-id": session_id})
        response = held.response
        assert response is not None
        assert response.status_code == 200, (
            f"the cancelled request was answered {response.status_code} {response.content!r}; expected 200 with "
            "a JSON-RPC error for id 5")
        assert response.headers["content-type"].startswith("application/json"), response.headers
        body = response.json()
        assert body.get("id") == 5 and isinstance((body.get("error") or {}).get("code"), int), body
        assert forwarded["params"]["requestId"] == got["id"], (forwarded, got)


# ----- 5. bytes pass through unchanged except the id ----------------------------------------------

TRANSPORTS = ["sse", "streamable", "streamable-json"]
CLIENT_ID = b"41"


class Peer:
    """One client session over a transport, speaking raw bytes."""

    def __init__(self, client: httpx.AsyncClient, transport: str, base_url: str) -> None:
        self.client = client
        self.transport = transport
        self.base_url = base_url
        self.url = base_url + "/mcp"
        self.headers: dict[str, str] = dict(BOTH)
        self.events: MemoryObjectReceiveStream[Event] | None = None  # the legacy SSE stream, or a GET stream
        self.stack = contextlib.AsyncExitStack()

    async def open(self) -> None:
        if self.transport == "sse":
            response, events = await self.stack.enter_async_context(event_stream(self.client, self.base_url + "/sse"))
            assert response.status_code == 200
            self.events = events
            name, endpoint = await next_event(events, 10, "the endpoint event")
            assert name == b"endpoint"
            self.url = self.base_url + endpoint.decode()
            self.headers = dict(JSON_CT)
            init = request(0, "initialize", {**INIT_PARAMS, "protocolVersion": "2024-11-05"})
            assert json.loads((await self.exchange(json.dumps(init).encode()))[-1])["id"] == 0
            initialized = await self.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
            assert initialized.status_code == 202
        else:
            session_id = await initialize(self.client, self.url)
            self.headers["mcp-session-id"] = session_id

    async def post(self, body: bytes) -> httpx.Response:
        return await self.client.post(self.url, content=body, headers=self.headers)

    async def notify(self, body: bytes) -> None:
        got = await self.post(body)
        assert got.status_code == 202, f"a valid notification was answered {got.status_code}: {got.content[:300]!r}"

    async def exchange(self, body: bytes) -> list[bytes]:
        """POST a request; the raw messages that came back for it, its answer last."""
        got = await self.post(body)
        expected = 202 if self.transport == "sse" else 200
        assert got.status_code == expected, f"a valid request was answered {got.status_code}: {got.content[:300]!r}"
        if self.transport != "sse":
            return messages_of(got)
        assert self.events is not None
        seen: list[bytes] = []
        while not seen or not is_answer(seen[-1]):
            seen.append((await next_event(self.events, 10, "the answer to a request"))[1])
        return seen

    async def side_messages(self, within: float) -> list[bytes]:
        """Messages that came on the session's own stream (legacy SSE stream, or a GET) within `within`."""
        if self.events is None:
            headers = {"accept": "text/event-stream", "mcp-session-id": self.headers["mcp-session-id"]}
            response, events = await self.stack.enter_async_context(event_stream(self.client, self.url, headers))
            assert response.status_code == 200, response.status_code
            self.events = events
        seen: list[bytes] = []
        with anyio.move_on_after(within):
            seen.append((await self.events.receive())[1])
        return seen

    async def close(self) -> None:
        try:
            if "mcp-session-id" in self.headers:
                await self.client.delete(self.url, headers={"mcp-session-id": self.headers["mcp-session-id"]})
        finally:
            await self.stack.aclose()  # the legacy SSE stream: its end ends the session


@contextlib.asynccontextmanager
async def peer(transport: str, base_url: str) -> AsyncIterator[Peer]:
    async with httpx.AsyncClient(timeout=10) as client:
        opened = Peer(client, transport, base_url)
        try:
            await opened.open()
            yield opened
        finally:
            await opened.close()


def bridge_options(transport: str) -> tuple[str, ...]:
    return ("--json-response",) if transport == "streamable-json" else ()


def first_difference(expected: bytes, got: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(expected, got, strict=False)) if x != y), min(len(expected), len(got)))
    return (f"first difference at byte {at} (lengths {len(expected)} and {len(got)}):\n"
            f"  expected ...{expected[max(0, at - 40):at + 60]!r}\n  got      ...{got[max(0, at - 40):at + 60]!r}")


def value_difference(expected: Any, got: Any, path: str = "$") -> str | None:
    """Where two decoded JSON values first differ (type-exact: `1` is not `1.0`), else None."""
    if type(expected) is not type(got):
        return f"{path}: {expected!r:.80} became {got!r:.80}"
    if isinstance(expected, dict):
        for key in expected.keys() | got.keys():
            found = value_difference(expected.get(key), got.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if len(expected) != len(got):
            return f"{path}: {len(expected)} items became {len(got)}"
        return next((d for i, (x, y) in enumerate(zip(expected, got, strict=True))
                     if (d := value_difference(x, y, f"{path}[{i}]"))), None)
    return None if expected == got else f"{path}: {expected!r:.80} became {got!r:.80}"


def mismatch(what: str, expected: bytes, got: bytes | None) -> str:
    """How `got` differs from `expected`: the bytes, and the values where they changed too."""
    if got is None:
        return f"{what}: never arrived"
    text = f"{what}: {first_difference(expected, got)}"
    with contextlib.suppress(ValueError):
        changed = value_difference(strip_id(json.loads(expected)), strip_id(json.loads(got)))
        if changed:
            text += f"\n  and a value changed: {changed}"
    return text


def strip_id(message: Any) -> Any:
    return {k: v for k, v in message.items() if k != "id"} if isinstance(message, dict) else message


def client_request(tool: str) -> tuple[bytes, bytes]:
    """A tools/call body as TypeScript clients write it (the id last), as the bytes around the id."""
    head = (rb'{"method" : "tools/call","jsonrpc":"2.0", "params":{"name":"' + tool.encode()
            + rb'","arguments":' + recorder.content(tool) + rb'},  "id":')
    return head, b"}"


def client_note(tool: str) -> bytes:
    return (rb'{"params":{"_meta":' + recorder.content(tool)
            + rb'}, "method":"notifications/roots/list_changed" ,"jsonrpc":"2.0"}')


def id_between(line: bytes, head: bytes, tail: bytes) -> bytes | None:
    """The id written between `head` and `tail` in `line` (a JSON integer or string), else None."""
    if not (line.startswith(head) and line.endswith(tail)) or len(line) <= len(head) + len(tail):
        return None
    middle = line[len(head):len(line) - len(tail)]
    try:
        value = json.loads(middle)
    except ValueError:
        return None
    return middle if type(value) in (int, str) else None


@pytest.mark.anyio
@pytest.mark.parametrize("variant", list(recorder.VARIANTS))
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_messages_pass_through_byte_exact_but_for_the_id(
    run: Run, tmp_path: Path, transport: str, variant: str
) -> None:
    record = tmp_path / "record"
    with run(*bridge_options(transport), child=recorder_argv(record)) as b:
        with anyio.fail_after(60):
            async with peer(transport, b.url) as client:
                note = client_note(variant)
                await client.notify(note)
                head, tail = client_request(variant)
                seen = await client.exchange(head + CLIENT_ID + tail)
                expected_note = recorder.note_line(variant)
                if expected_note not in seen:
                    seen += await client.side_messages(5.0)
        ins, outs = read_record(record)
    problems: list[str] = []
    if note not in ins:
        problems.append(mismatch("client notification -> child", note, last(ins, b"roots/list_changed")))
    got_request = last(ins, b'"tools/call"')
    assert got_request is not None, f"the child never got the request: {ins}"
    if id_between(got_request, head, tail) is None:
        problems.append(mismatch("client request -> child (all but the id)", head + CLIENT_ID + tail, got_request))
    answer_head = recorder.answer_head(variant)
    assert any(line.startswith(answer_head) for line in outs), f"the child did not answer as crafted: {outs}"
    expected_answer = answer_head + CLIENT_ID + recorder.ANSWER_TAIL
    if expected_answer not in seen:
        answers = [m for m in seen if is_answer(m)]
        problems.append(mismatch("child answer -> client (all but the id)", expected_answer,
                                 answers[-1] if answers else None))
    if expected_note not in seen:
        problems.append(mismatch("child notification -> client", expected_note, last(seen, b"notifications/message")))
    assert not problems, "\n".join(problems)


def last(lines: list[bytes], part: bytes) -> bytes | None:
    """The last of `lines` that contains `part`."""
    return next((line for line in reversed(lines) if part in line), None)


PRETTY_NOTE = (b'{\n  "jsonrpc": "2.0",\n  "method": "notifications/roots/list_changed",\n  "params": {\n'
               b'    "_meta": {\n      "n": 18446744073709551617,\n      "s": "caf\\u00e9"\n    }\n  }\n}')
PRETTY_REQUEST = (b'{\n  "jsonrpc": "2.0",\n  "method": "tools/call",\n  "params": {\n    "name": "echo",\n'
                  b'    "arguments": {\n      "text": "pretty"\n    }\n  },\n  "id": 43\n}')


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pretty_printed_bodies_reach_the_child_as_one_line_each(
    run: Run, tmp_path: Path, transport: str
) -> None:
    record = tmp_path / "record"
    with run(*bridge_options(transport), child=recorder_argv(record)) as b:
        with anyio.fail_after(60):
            async with peer(transport, b.url) as client:
                await client.notify(PRETTY_NOTE)
                answer = json.loads((await client.exchange(PRETTY_REQUEST))[-1])
                assert answer["id"] == 43 and answer["result"]["content"][0]["text"] == "pretty", answer
        ins, _ = read_record(record)
    start = max(i for i, line in enumerate(ins) if b"notifications/initialized" in line) + 1
    lines = ins[start:]
    assert len(lines) == 2, f"expected one line per message, the child read {len(lines)}: {lines}"
    assert json.loads(lines[0]) == json.loads(PRETTY_NOTE)
    got = json.loads(lines[1])
    sent = json.loads(PRETTY_REQUEST)
    assert type(got.pop("id")) in (int, str)
    del sent["id"]
    assert got == sent
