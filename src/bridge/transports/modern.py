"""MCP 2026-07-28 on the MCP path: stateless requests served natively in front of a handshake-era child.

A POST without `Mcp-Session-Id` whose `params._meta` carries `io.modelcontextprotocol/
protocolVersion` is modern (the era is read from the body, not the header: clients in the field
send the newer header on handshake-era sessions too). It is validated as the revision says (the
SDK's pure classifier: envelope keys -32602, headers against the body -32020, a served version
-32022), then:

- `server/discover` is answered by the bridge, from the initialize result of the principal's child;
- methods the revision removed get 404 with -32601; a notification (a posted
  `notifications/cancelled` included) gets 202;
- every other request goes to a child the bridge initialized itself for the request's principal
  (its credential and mapped `--header-env` values: a child never serves two principals), kept
  for the principal's later requests until it is idle for `--idle-timeout`. The request gets an id
  and progress token of the bridge's (two clients of one principal may pick the same ones); its
  answer is shaped for the revision (`resultType`, caching fields on list and read results, server
  info in `_meta`, list cursors bound to the child that minted them, resource-not-found -32602),
  on an SSE stream scoped to the request or as JSON. The client closing that stream cancels the
  request in the child.

A `tools/call`, `prompts/get` or `resources/read` whose client declares sampling, elicitation or
roots runs on a child of its own for the request's duration, initialized with those capabilities:
when the child asks the client for input, the bridge answers `input_required` and resumes the
child when the client retries (`bridge.transports.rounds`).

`subscriptions/listen` streams get the principal's child's list-changed and resource-updated
notifications they asked for (each URI subscribed in the child once for all its streams), tagged
with the listen's id, after an acknowledgement of what is honoured; a `complete` result ends them
when the child's session ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping
from typing import Any

import anyio

from bridge import codec, jsonrpc
from bridge.http import Headers, HttpError, Receive, Scope, Send, respond
from bridge.observability import session_context
from bridge.session import Registry
from bridge.streams import Outbox
from bridge.transports import events
from bridge.transports.intake import submit_all
from bridge.transports.principals import Discard, Listener, Listeners, PrincipalChild, PrincipalChildren, ask
from bridge.transports.revision import (
    CLIENT_CAPABILITIES_KEY,
    ENVELOPE_PREFIX,
    INVALID_PARAMS,
    LIST_CHANGED,
    LISTEN,
    LISTS,
    NAME_OF,
    PROTOCOL_VERSION_KEY,
    REMOVED,
    ROUND_METHODS,
    STATUS_OF_CODE,
    SUBSCRIPTION_KEY,
    SUPPORTED,
    UNSUPPORTED_VERSION,
    VERSION,
    check_request,
    is_modern,
)
from bridge.transports.rounds import Round, Rounds, SealedState, StateError
from bridge.transports.shaping import ChildStream, Shaper, discover

log = logging.getLogger("bridge.modern")

__all__ = ["SUPPORTED", "ModernRequests", "is_modern"]


class ModernRequests:
    """Serves the modern POSTs of the MCP path (see the module's docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.children = PrincipalChildren(registry)
        self.rounds = Rounds(SealedState(registry.replica), self.settings.input_timeout)
        self._sweeping = False

    async def __call__(self, scope: Scope, value: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = Headers.of(scope)
        request_id = value.get("id")
        is_request = "id" in value
        if is_request and not jsonrpc.valid_id(request_id):
            raise HttpError(400, "Invalid Request: a request id must be a string or an integer")
        if not is_request:
            # A notification (the TypeScript client posts `notifications/cancelled` with the version
            # header only): nothing to answer but 202, unless it names a version not served.
            await self._notification(headers, value, send)
            return
        routing = {name.decode("latin-1"): val.decode("latin-1") for name in (b"mcp-protocol-version",
                   b"mcp-method", b"mcp-name") if (val := headers.get(name)) is not None}
        verdict = check_request(value, routing)
        if verdict is not None:
            raise HttpError(STATUS_OF_CODE.get(verdict.code, 400), verdict.message, code=verdict.code,
                            id_=request_id, data=verdict.data)
        method = value.get("method")
        if method in REMOVED or not isinstance(method, str):
            raise HttpError(404, f"Method not found: {method!r} is not part of MCP {VERSION}",
                            code=jsonrpc.METHOD_NOT_FOUND, id_=request_id)
        given = value.get("params")
        params: dict[str, Any] = given if isinstance(given, dict) else {}
        translated = self.children.era != "modern"
        if method in ROUND_METHODS and "requestState" in params and translated:
            await self._retry(scope, value, receive, send)
            return
        wanted = _input_capabilities(params) if method in ROUND_METHODS and translated else frozenset()
        try:
            child = await (self.children.lease_alone(scope, wanted) if wanted else self.children.lease(scope))
        except HttpError as exc:
            raise exc.with_id(request_id) from None
        with session_context(child.session.tag):
            if method == jsonrpc.DISCOVER:
                result = child.result if child.modern else discover(child.result)
                await respond(send, 200, codec.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}))
                return
            if method == LISTEN and not child.modern:
                await self._listen(child, request_id, params, receive, send)
                return
            self._expire_rounds()
            round_ = None
            if wanted and not child.modern:
                round_ = self.rounds.open(self.children.principal(scope), method, params.get(NAME_OF[method]), child)
            await self._forward(child, value, receive, send, round_)

    async def _notification(self, headers: Headers, value: dict[str, Any], send: Send) -> None:
        params = value.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        header = headers.get(b"mcp-protocol-version")
        versions = {meta.get(PROTOCOL_VERSION_KEY) if isinstance(meta, dict) else None,
                    header.decode("latin-1") if header is not None else None} - {None}
        unserved = sorted(str(v) for v in versions if v != VERSION)
        if unserved:
            raise HttpError(400, "Unsupported protocol version", code=UNSUPPORTED_VERSION,
                            data={"supported": SUPPORTED, "requested": unserved[0]})
        await respond(send, 202)  # cancellation is the client closing the request's stream

    async def _forward(self, child: PrincipalChild, value: dict[str, Any], receive: Receive, send: Send,
                       round_: Round | None) -> None:
        request_id = value["id"]
        ours = f"m{next(child.ids)}"
        params = dict(value.get("params") or {})
        # The envelope is this hop's business: a handshake-era child (the mcp SDK's among them)
        # refuses requests that carry it.
        meta = {k: v for k, v in (params.get("_meta") or {}).items()
                if child.modern or not k.startswith(ENVELOPE_PREFIX)}
        token = meta.get("progressToken")
        if jsonrpc.valid_id(token):
            meta["progressToken"] = ours
        if meta:
            params["_meta"] = meta
        else:
            params.pop("_meta", None)
        cursor = params.get("cursor")
        if value["method"] in LISTS and isinstance(cursor, str):
            tag, dot, theirs = cursor.partition(".")
            if not dot or tag != child.tag:
                raise HttpError(400, "Invalid params: the cursor is from another server process; list again",
                                code=INVALID_PARAMS, id_=request_id)
            params["cursor"] = theirs
        message = {**value, "id": ours, "params": params}
        stream = ChildStream(self, child, value["method"], ours, token, round_)
        shaper = stream.attach(value, self._outbox())
        with shaper.outbox:
            await submit_all(child.session, [(message, codec.dumps(message))], stream)
            await self._answer(shaper, stream, receive, send)

    async def _retry(self, scope: Scope, value: dict[str, Any], receive: Receive, send: Send) -> None:
        """A client's retry with its input: the waiting child gets it as the answers to its requests."""
        request_id = value["id"]
        params = value["params"]
        try:
            round_ = self.rounds.take(params.get("requestState"), self.children.principal(scope), value["method"],
                                      params.get(NAME_OF[value["method"]]))
        except StateError as exc:
            raise HttpError(400, f"Invalid params: {exc}", code=INVALID_PARAMS, id_=request_id) from None
        stream = round_.stream
        responses = params.get("inputResponses")
        missing = [key for key in round_.asked if not isinstance(responses, dict) or key not in responses]
        if missing:
            stream.abandon("the retry lacked inputResponses " + ", ".join(missing))
            raise HttpError(400, f"Invalid params: inputResponses lacks {', '.join(missing)}; send the request "
                            "again without requestState", code=INVALID_PARAMS, id_=request_id)
        assert isinstance(responses, dict)
        child = round_.child
        with session_context(child.session.tag):
            shaper = stream.attach(value, self._outbox())
            with shaper.outbox:
                asked, round_.asked = round_.asked, {}
                answers = [{"jsonrpc": "2.0", "id": child_id, "result": responses[key]}
                           for key, (child_id, _method) in asked.items()]
                await submit_all(child.session, [(a, codec.dumps(a)) for a in answers], stream)
                await stream.ask_pending()
                await self._answer(shaper, stream, receive, send)

    async def _answer(self, shaper: Shaper, stream: ChildStream, receive: Receive, send: Send) -> None:
        """Write what the child sends for this HTTP request until its answer (or an input request);
        a client that leaves first cancels the request in the child."""
        outbox = shaper.outbox
        completed = False
        try:
            if self.settings.json_response:
                answer = await _collect(receive, outbox)
                if answer is not None:
                    completed = True
                    await respond(send, 200, answer)
            else:
                # The answer that comes before anything else (and before a keep-alive is due) goes as
                # JSON with its error's HTTP status (-32601: 404); otherwise the request's SSE stream.
                first = await outbox.get(self.settings.keepalive)
                if first is not None and first[1]:
                    completed = True
                    await respond(send, _status_of(first[0]), first[0])
                    return
                await events.start_sse(send)
                if first is not None and first[0]:
                    await events.write(send, events.event(first[0]))
                # Also when the outbox closed before anything came: the stream still ends properly.
                await events.stream_events(receive, send, outbox, self.settings.keepalive, math.inf)
                completed = shaper.answered
        finally:
            if not completed and not shaper.answered:
                with anyio.CancelScope(shield=True):
                    await stream.cancel()

    async def _listen(self, child: PrincipalChild, listen_id: object, params: dict[str, Any], receive: Receive,
                      send: Send) -> None:
        """`subscriptions/listen`: an acknowledgement with what is honoured, then the child's
        notifications it asked for until the client leaves, or a `complete` result at the end."""
        wanted = params.get("notifications")
        wanted = wanted if isinstance(wanted, dict) else {}
        listeners = child.session.default
        assert isinstance(listeners, Listeners)
        outbox = Outbox(True, self.settings.max_queue, self.settings.stall_timeout)
        listener = Listener(listen_id, wanted, outbox)
        features = child.result.get("capabilities") or {}
        listener.kinds = {m for m in listener.kinds if _offers(features, m.split("/")[1], "listChanged")}
        if not _offers(features, "resources", "subscribe"):
            listener.uris = set()
        listener.uris = {uri for uri in listener.uris if await self._subscribe(child, uri)}
        honoured: dict[str, Any] = {flag: True for flag, m in LIST_CHANGED.items() if m in listener.kinds}
        if isinstance(wanted.get("resourceSubscriptions"), list):
            honoured["resourceSubscriptions"] = sorted(listener.uris)
        listeners.listening.append(listener)
        child.session.holds += 1  # an open listen keeps its child from idling out
        try:
            with outbox:
                await events.start_sse(send)
                ack = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                       "params": {"notifications": honoured, "_meta": {SUBSCRIPTION_KEY: listen_id}}}
                await events.write(send, events.event(codec.dumps(ack)))
                left = not await events.until_disconnect(receive, lambda: self._relay(outbox, send))
                if not left:  # the child's session ended (idle, drain, shutdown): the listen completes
                    done = {"jsonrpc": "2.0", "id": listen_id, "result": {
                        "resultType": "complete", "_meta": {SUBSCRIPTION_KEY: listen_id}}}
                    await events.send_event(send, b"", codec.dumps(done), None, 0, True)
        finally:
            child.session.holds -= 1
            listeners.listening.remove(listener)
            for uri in listener.uris:
                await self._unsubscribe(child, uri)

    async def _relay(self, outbox: Outbox, send: Send) -> None:
        while True:
            item = await outbox.get(self.settings.keepalive)
            if outbox.timed_out:
                await events.write(send, events.KEEPALIVE)
                continue
            if item is None:
                return
            await events.write(send, events.event(item[0]))

    async def _subscribe(self, child: PrincipalChild, uri: str) -> bool:
        """`resources/subscribe` for `uri` in the child, once for all of its listen streams."""
        if child.subscribed[uri]:
            child.subscribed[uri] += 1
            return True
        request = {"jsonrpc": "2.0", "id": f"s{next(child.ids)}", "method": "resources/subscribe",
                   "params": {"uri": uri}}
        reply = await ask(child.session, request, self.settings.request_timeout, self.settings.stall_timeout)
        if not isinstance(reply, dict) or "result" not in reply:
            log.info("child refused resources/subscribe for a listen stream")
            return False
        child.subscribed[uri] += 1
        return True

    async def _unsubscribe(self, child: PrincipalChild, uri: str) -> None:
        child.subscribed[uri] -= 1
        if child.subscribed[uri] > 0:
            return
        del child.subscribed[uri]
        request = {"jsonrpc": "2.0", "id": f"s{next(child.ids)}", "method": "resources/unsubscribe",
                   "params": {"uri": uri}}
        with anyio.CancelScope(shield=True), contextlib.suppress(HttpError):
            await submit_all(child.session, [(request, codec.dumps(request))], Discard())

    def _outbox(self) -> Outbox:
        return Outbox(not self.settings.json_response, self.settings.max_queue, self.settings.stall_timeout)

    def _expire_rounds(self) -> None:
        """Rounds whose client did not come back: their child gets an error answer, the lease ends
        (checked at every modern request and by the sweep)."""
        for round_ in self.rounds.expired():
            round_.stream.abandon("the client did not answer within the round's time")

    async def sweep(self) -> None:
        """Expire abandoned rounds once a second while any wait (owned by the registry's task group)."""
        try:
            while self.rounds.waiting:
                await anyio.sleep(1.0)
                self._expire_rounds()
        finally:
            self._sweeping = False

    def watch_rounds(self) -> None:
        if not self._sweeping:
            self._sweeping = True
            self.registry.start_task(self.sweep)


def _status_of(answer: bytes) -> int:
    """The HTTP status of a request's JSON answer: its error's, by the revision's table, else 200."""
    try:
        message = codec.loads(answer)
    except codec.DecodeError:
        return 200
    error = message.get("error") if isinstance(message, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return STATUS_OF_CODE.get(code, 200) if isinstance(code, int) else 200


def _offers(capabilities: object, feature: str, flag: str) -> bool:
    """Whether the child's initialize offered `flag` of `feature` (e.g. resources.subscribe)."""
    entry = capabilities.get(feature) if isinstance(capabilities, dict) else None
    return isinstance(entry, dict) and entry.get(flag) is True


def _input_capabilities(params: Mapping[str, Any]) -> frozenset[str]:
    """The capabilities a request's client declares for answering a server's input requests."""
    meta = params.get("_meta")
    declared = meta.get(CLIENT_CAPABILITIES_KEY) if isinstance(meta, dict) else None
    if not isinstance(declared, dict):
        return frozenset()
    return frozenset(name for name in ("sampling", "elicitation", "roots") if isinstance(declared.get(name), dict))


async def _collect(receive: Receive, outbox: Outbox) -> bytes | None:
    answer: list[bytes] = []

    async def gather() -> None:
        while (item := await outbox.get()) is not None:
            if item[1]:
                answer.append(item[0])
                return

    done = await events.until_disconnect(receive, gather)
    return answer[0] if done and answer and answer[0] else None
