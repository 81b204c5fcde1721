"""Helpers of the multi-round-trip suite (`test_rounds.py`): raw 2026-07-28 requests whose client
declares sampling, elicitation or roots, their `input_required` answers, the retries, and bounded
waits on the bridge's log and process table.

Run as `python -m tests.bridge.modern.rounds_support` it is the full-protocol server plus one tool,
`twice`, that asks its client for sampling two times in a row (`prompt`), so one request needs two
rounds of input; it returns both texts.

Self-contained on purpose (the suite's other helpers change under other hands): a round trip is
built here from the wire facts alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psutil

from tests.bridge.modern.wire import CAPABILITIES_KEY, CLIENT_INFO_KEY, VERSION, VERSION_KEY, EventData
from tests.servers.peer import SERVER_ARGV, SERVER_ENV
from tests.support.procs import Started, descendants

INVALID_PARAMS = -32602
TWICE = [sys.executable, "-m", "tests.bridge.modern.rounds_support"]
"""The full-protocol server with the `twice` tool; it needs `ENV` too."""
FULL = list(SERVER_ARGV)
"""The full-protocol stdio server (`tests/servers/full_protocol.py`); it needs `ENV`."""
ENV = dict(SERVER_ENV)
IDLE = ("--idle-timeout", "1")
"""Children end a second after their last message, so the fixture's final check (no child left) holds."""
TAGGED = ("--header-env", "X-Echo-Tag=ECHO_TAG")
"""Each `X-Echo-Tag` value is its own principal (its child gets the value as `ECHO_TAG`)."""
SAMPLING: dict[str, Any] = {"sampling": {}}
WAIT = 15.0
"""Longest wait for something that should happen; only ever reached when a test fails."""


def created(text: str, model: str = "raw-model") -> dict[str, Any]:
    """A `CreateMessageResult`, as a client answers `sampling/createMessage`."""
    return {"role": "assistant", "content": {"type": "text", "text": text}, "model": model}


def messages_of(response: httpx.Response) -> list[dict[str, Any]]:
    """Every JSON-RPC message of a POST's answer: an SSE stream, or one JSON object."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return [response.json()]
    assert kind.startswith("text/event-stream"), (response.status_code, kind, response.text[:300])
    return list(sse_messages(response.text.replace("\r\n", "\n").split("\n")))


def sse_messages(lines: Iterator[str] | list[str]) -> Iterator[dict[str, Any]]:
    """The JSON data of SSE events, as their lines come."""
    events = EventData()
    for line in [*lines, ""] if isinstance(lines, list) else lines:
        if (message := events.feed(line)) is not None:
            yield message


def answer(response: httpx.Response) -> dict[str, Any]:
    """The final message (the answer) of a 200 POST."""
    assert response.status_code == 200, (response.status_code, response.text)
    return messages_of(response)[-1]


def refused(response: httpx.Response, id_: object) -> str:
    """The message of a 400 / -32602 refusal that echoes `id_`."""
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == id_, body
    assert body["error"]["code"] == INVALID_PARAMS, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message, body
    return message


def tampered(state: str) -> str:
    """`state` with one character of its base64 part changed (one in the middle: every bit of it counts)."""
    prefix, dot, body = state.partition(".")
    assert dot and len(body) > 20, state
    i = len(body) // 2
    swapped = "A" if body[i] != "A" else "B"
    return f"{prefix}.{body[:i]}{swapped}{body[i + 1:]}"


@dataclass
class Wire:
    """One principal's raw 2026-07-28 requests to a bridge's MCP path (`tag`: its `X-Echo-Tag`)."""

    client: httpx.Client
    url: str
    tag: str | None = None

    def call(self, id_: object, tool: str, arguments: dict[str, Any] | None = None,
             capabilities: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        """A `tools/call` whose client declares `capabilities` (default: sampling) for this request."""
        meta = {VERSION_KEY: VERSION, CAPABILITIES_KEY: SAMPLING if capabilities is None else capabilities,
                CLIENT_INFO_KEY: {"name": "raw-rounds", "version": "0"}, **params.pop("meta", {})}
        return {"jsonrpc": "2.0", "id": id_, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments or {}, **params, "_meta": meta}}

    def retry(self, id_: object, first: dict[str, Any], responses: dict[str, Any], state: str,
              tool: str | None = None) -> dict[str, Any]:
        """The retry of `first` with a new id, `inputResponses` and `requestState` (`tool`: another name)."""
        params = first["params"]
        return self.call(id_, tool or params["name"], params["arguments"], params["_meta"][CAPABILITIES_KEY],
                         inputResponses=responses, requestState=state)

    def headers(self, body: dict[str, Any]) -> dict[str, str]:
        found = {"accept": "application/json, text/event-stream", "content-type": "application/json",
                 "mcp-protocol-version": VERSION, "mcp-method": body["method"], "mcp-name": body["params"]["name"]}
        if self.tag is not None:
            found["x-echo-tag"] = self.tag
        return found

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(self.url, json=body, headers=self.headers(body))

    def ask(self, id_: object, tool: str, arguments: dict[str, Any] | None = None,
            capabilities: dict[str, Any] | None = None) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """Send a request that asks the client for input: (the request, the only input key, the
        `input_required` result)."""
        first = self.call(id_, tool, arguments, capabilities)
        reply = answer(self.post(first))
        assert reply["id"] == id_, reply
        result = reply["result"]
        assert result["resultType"] == "input_required", reply
        assert len(result["inputRequests"]) == 1, result
        assert isinstance(result["requestState"], str), result
        return first, next(iter(result["inputRequests"])), result

    def sample(self, id_: str, prompt: str, reply_text: str) -> dict[str, Any]:
        """A whole `sample` round trip: the tool's structured result."""
        first, key, result = self.ask(id_, "sample", {"prompt": prompt})
        assert result["inputRequests"][key]["method"] == "sampling/createMessage", result
        done = answer(self.post(self.retry(id_ + "-retry", first, {key: created(reply_text)}, result["requestState"])))
        assert done["id"] == id_ + "-retry", done
        assert done["result"]["resultType"] == "complete", done
        structured: dict[str, Any] = done["result"]["structuredContent"]
        return structured


@contextmanager
def wire(started: Started, tag: str | None = None) -> Iterator[Wire]:
    with httpx.Client(timeout=20) as client:
        yield Wire(client, started.url + "/mcp", tag)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `WAIT` seconds."""
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"still not so after {WAIT}s: {what}"
        time.sleep(0.05)


def children(started: Started) -> list[psutil.Process]:
    """The bridge's live full-protocol children (zombies left out)."""
    found = []
    for proc in descendants(started.pid):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and {FULL[-1], TWICE[-1]} & set(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def env_of(proc: psutil.Process, name: str) -> str | None:
    value = proc.environ().get(name)
    return value if isinstance(value, str) else None


async def _twice(ctx: Any, s: Any, args: dict[str, Any]) -> Any:
    import mcp_types as types

    prompt = args.get("prompt", "")
    texts = []
    for n in (1, 2):
        message = types.SamplingMessage(role="user", content=types.TextContent(text=f"{prompt} {n}"))
        got = await ctx.session.create_message([message], max_tokens=16, related_request_id=ctx.request_id)
        texts.append(got.content.text if isinstance(got.content, types.TextContent) else None)
    return {"texts": texts}


if __name__ == "__main__":
    from tests.servers import full_protocol

    full_protocol.TOOLS["twice"] = (_twice, {"type": "object", "properties": {"prompt": {"type": "string"}}})
    full_protocol.main()
