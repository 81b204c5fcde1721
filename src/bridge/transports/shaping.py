"""A 2026-07-28 request's messages on their way back: the client's ids restored, results shaped for
the revision, the child's input requests turned into rounds (`bridge.transports.rounds`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bridge import codec, jsonrpc
from bridge.session import ChildNotReading, SessionEnded
from bridge.streams import Destination, Dropped, Outbox
from bridge.transports.principals import Discard, Listeners, PrincipalChild, PrincipalChildren
from bridge.transports.revision import (
    CACHEABLE,
    INVALID_PARAMS,
    LEVELS,
    LIST_CHANGED,
    LISTS,
    LOG_LEVEL_KEY,
    LOG_MESSAGE,
    RESOURCE_NOT_FOUND,
    RESOURCE_UPDATED,
    SERVER_INFO_KEY,
    SUBSCRIPTION_KEY,
    TTL_MS,
    VERSION,
)
from bridge.transports.rounds import CAPABILITY_OF, MAX_ROUNDS, Round, Rounds

log = logging.getLogger("bridge.modern")


class RoundKeeper(Protocol):
    """What a request's stream needs of the endpoint: its rounds, its children, the sweep."""

    rounds: Rounds
    children: PrincipalChildren

    def watch_rounds(self) -> None: ...


class Shaper:
    """One HTTP response of a request: the child's messages for it turned into 2026-07-28 ones (the
    client's id and progress token back, the result shaped), closed after the answer."""

    def __init__(self, child: PrincipalChild, method: str, request_id: object, token: object,
                 outbox: Outbox) -> None:
        self.child = child
        self.method = method
        self.request_id = request_id
        self.token = token
        self.outbox = outbox
        self.answered = False
        self.log_level: str | None = None  # the request's `io.modelcontextprotocol/logLevel`

    def shape(self, message: dict[str, Any], final: bool) -> bytes:
        if not final:
            params = message.get("params")
            if message.get("method") == jsonrpc.PROGRESS and isinstance(params, dict):
                params["progressToken"] = self.token
            elif message.get("method") == LOG_MESSAGE and not self._logged(params):
                return b""  # below the request's logLevel, or it asked for none
            return codec.dumps(message)
        message["id"] = self.request_id
        error = message.get("error")
        if isinstance(error, dict):
            if error.get("code") == RESOURCE_NOT_FOUND and self.method == "resources/read":
                error["code"] = INVALID_PARAMS  # the revision has no -32002
            return codec.dumps(message)
        result = message.get("result")
        if isinstance(result, dict):
            shape_result(result, self.method, self.child)
        return codec.dumps(message)

    def _logged(self, params: object) -> bool:
        level = params.get("level") if isinstance(params, dict) else None
        return self.log_level is not None and LEVELS.get(str(level), 0) >= LEVELS.get(self.log_level, 99)

    def input_required(self, asks: dict[str, dict[str, Any]], state: str) -> bytes:
        return codec.dumps({"jsonrpc": "2.0", "id": self.request_id, "result": {
            "resultType": "input_required", "inputRequests": asks, "requestState": state}})


class ChildStream:
    """The `Destination` of one request in its child's session, across the HTTP responses of its
    rounds: each retry attaches a new `Shaper`; between rounds nothing is attached."""

    takes_extras = True

    def __init__(self, requests: RoundKeeper, child: PrincipalChild, method: str, ours: str, token: object,
                 round_: Round | None) -> None:
        self._requests = requests
        self.child = child
        self.method = method
        self.ours = ours  # the request's id in the child's session
        self.token = token
        self.round = round_
        self.shaper: Shaper | None = None
        # input requests not yet given to the client: key -> (the child's request id, method, request)
        self._pending: dict[str, tuple[object, str, dict[str, Any]]] = {}
        self._done = False
        if round_ is not None:
            round_.stream = self
        if child.modern and isinstance(child.session.default, Listeners):
            child.session.default.passing[ours] = self  # its listen notifications, when not routed here

    def attach(self, request: dict[str, Any], outbox: Outbox) -> Shaper:
        """A response for `request` (the original or a retry) to write this request's messages to."""
        self.shaper = Shaper(self.child, self.method, request["id"], self.token, outbox)
        params = request.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        level = meta.get(LOG_LEVEL_KEY) if isinstance(meta, dict) else None
        self.shaper.log_level = level if isinstance(level, str) else None
        return self.shaper

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        try:
            message = codec.loads(data) if data else None
        except codec.DecodeError:
            message = None
        if final:
            self._finish()
        shaper = self.shaper
        if not isinstance(message, dict):
            return await self._write(shaper, data, final)
        method = message.get("method")
        if not final and "id" in message and isinstance(method, str):
            return await self._asked(message, method)
        if self.child.modern:
            retag(message, self.ours, shaper.request_id if shaper else None)
        elif not final and (method in LIST_CHANGED.values() or method == RESOURCE_UPDATED):
            listeners: Destination = self.child.session.default  # for listen streams, not this one
            return await listeners.deliver(data, False)
        return await self._write(shaper, shaper.shape(message, final) if shaper else data, final)

    async def _asked(self, message: dict[str, Any], method: str) -> Dropped:
        """The child asks the client for input: the client gets `input_required` on this response."""
        round_ = self.round
        if round_ is None or CAPABILITY_OF.get(method) not in self.child.capabilities:
            log.warning("child sent %s, which this request's client cannot answer: dropped", method[:60])
            return "no_stream"
        key = f"input-{round_.rounds + 1}-{len(self._pending) + 1}"
        request: dict[str, Any] = {"method": method}
        if "params" in message:
            request["params"] = message["params"]
        self._pending[key] = (message["id"], method, request)
        if self.shaper is not None:
            await self.ask_pending()
        return None

    async def ask_pending(self) -> None:
        """Give the attached response the input requests not yet asked, as `input_required`."""
        shaper, round_ = self.shaper, self.round
        if shaper is None or round_ is None or not self._pending:
            return
        if round_.rounds >= MAX_ROUNDS:
            self.abandon(f"more than {MAX_ROUNDS} rounds of input")
            return
        pending, self._pending = self._pending, {}
        round_.asked = {key: (child_id, method) for key, (child_id, method, _request) in pending.items()}
        asks = {key: request for key, (_child_id, _method, request) in pending.items()}
        state = self._requests.rounds.wait(round_)
        self._requests.watch_rounds()
        await self._write(shaper, shaper.input_required(asks, state), True)

    async def _write(self, shaper: Shaper | None, data: bytes, final: bool) -> Dropped:
        if shaper is None:
            return "no_stream" if data else None
        dropped = await shaper.outbox.deliver(data, final)
        if final:
            shaper.answered = True
            shaper.outbox.close()
            self.shaper = None
        return dropped

    def _finish(self) -> None:
        """The child answered the request itself: its round (if any) is over, its child free again."""
        self._done = True
        listeners = self.child.session.default
        if isinstance(listeners, Listeners):
            listeners.passing.pop(self.ours, None)
        if self.round is not None:
            self._requests.rounds.drop(self.round)
            self._requests.children.release(self.child)

    def abandon(self, why: str) -> None:
        """End a round the client will not finish: the child's questions get an error answer and
        the request's child is ended with its session."""
        log.info("round of a 2026-07-28 request abandoned: %s", why)
        if self.round is not None:
            self._requests.rounds.drop(self.round)
        self._done = True
        self.child.session.end(f"2026-07-28 round abandoned: {why}")

    async def cancel(self) -> None:
        """The client closed the request's stream: the child is told, its late answer dropped."""
        if self._done:
            return
        log.info("client closed a 2026-07-28 request's stream: cancelled in the child")
        if self.round is not None:
            self.abandon("the client closed the request's stream")
            return
        note = {"jsonrpc": "2.0", "method": jsonrpc.CANCELLED,
                "params": {"requestId": self.ours, "reason": "the client closed the request's stream"}}
        try:
            await self.child.session.submit(note, codec.dumps(note), Discard())
        except (SessionEnded, ChildNotReading):  # nothing left to cancel, or no way to say it
            log.debug("cancel not sent: the child's session has ended or does not read")

    async def cancelled(self, answer: bytes) -> Dropped:
        shaper, self.shaper = self.shaper, None
        if shaper is not None:
            shaper.outbox.close()
        return None

    def close(self) -> None:
        if self.shaper is not None:
            self.shaper.outbox.close()


def shape_result(result: dict[str, Any], method: str, child: PrincipalChild) -> None:
    result.setdefault("resultType", "complete")
    meta = result.get("_meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    info = child.result.get("serverInfo")
    if isinstance(info, dict):
        meta.setdefault(SERVER_INFO_KEY, info)
    result["_meta"] = meta
    if method in CACHEABLE:
        result.setdefault("ttlMs", TTL_MS)
        result.setdefault("cacheScope", "private")
    cursor = result.get("nextCursor")
    if method in LISTS and isinstance(cursor, str):
        result["nextCursor"] = f"{child.tag}.{cursor}"


def discover(initialized: Mapping[str, Any]) -> dict[str, Any]:
    """`server/discover` from what the child's initialize said, with only what the bridge serves."""
    capabilities = dict(initialized.get("capabilities") or {})  # listChanged and subscribe: via listen
    result: dict[str, Any] = {"supportedVersions": [VERSION], "capabilities": capabilities,
                              "resultType": "complete", "ttlMs": TTL_MS, "cacheScope": "private"}
    if isinstance(initialized.get("instructions"), str):
        result["instructions"] = initialized["instructions"]
    info = initialized.get("serverInfo")
    if isinstance(info, dict):
        result["_meta"] = {SERVER_INFO_KEY: info}
    return result


def retag(message: dict[str, Any], ours: str, theirs: object) -> None:
    """A 2026-07-28 child tags a listen's messages with the listen's id: ours, made the client's."""
    for part in (message.get("params"), message.get("result")):
        meta = part.get("_meta") if isinstance(part, dict) else None
        if isinstance(meta, dict) and meta.get(SUBSCRIPTION_KEY) == ours and theirs is not None:
            meta[SUBSCRIPTION_KEY] = theirs
