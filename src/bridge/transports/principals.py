"""The children of 2026-07-28 requests, one per principal: started, probed for their era and
initialized by the bridge, shared by the principal's requests, or leased to one request alone.

A principal is the request's credential and the values of the headers `--header-env` maps: a child
never serves two. The first child tells the bridge the server's era once: asked `server/discover`
as its first request, a dual-era server (the `mcp` SDK's, FastMCP's) answers it and stays in that
era, and its requests then pass through; any other child is initialized with the handshake (the
capabilities the bridge will bridge only) and its requests are translated. A principal's shared
child's list-changed and resource-updated notifications go to its listen streams (`Listeners`).
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import logging
import secrets
from typing import TYPE_CHECKING, Any

import anyio

from bridge import __version__, codec, jsonrpc
from bridge.http import Headers, HttpError, Scope
from bridge.observability import session_context
from bridge.session import Registry, Session
from bridge.streams import Dropped, Outbox
from bridge.transports.intake import credential, open_session, submit_all
from bridge.transports.revision import (
    CLIENT_CAPABILITIES_KEY,
    INITIALIZE_TIMEOUT,
    LABEL,
    LIST_CHANGED,
    PROTOCOL_VERSION_KEY,
    RESOURCE_UPDATED,
    SUBSCRIPTION_KEY,
    VERSION,
)

if TYPE_CHECKING:
    from bridge.transports.shaping import ChildStream

log = logging.getLogger("bridge.modern")


class Discard:
    """Where a pooled child's messages that belong to no request go: nowhere (counted as dropped)."""

    takes_extras = False

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        return "no_stream" if data else None

    async def cancelled(self, answer: bytes) -> Dropped:
        return None

    def close(self) -> None:
        pass


class Listener:
    """One `subscriptions/listen` stream: what it asked for, and where its notifications wait."""

    def __init__(self, listen_id: object, wanted: dict[str, Any], outbox: Outbox) -> None:
        self.id = listen_id
        self.outbox = outbox
        self.kinds = {method for flag, method in LIST_CHANGED.items() if wanted.get(flag) is True}
        uris = wanted.get("resourceSubscriptions")
        self.uris = {u for u in uris if isinstance(u, str)} if isinstance(uris, list) else set()

    def wants(self, method: object, params: object) -> bool:
        if method == RESOURCE_UPDATED:
            return isinstance(params, dict) and params.get("uri") in self.uris
        return method in self.kinds


class Listeners:
    """The default destination of a principal's shared child: its list-changed and resource-updated
    notifications go to every listen stream that asked for them, tagged with that stream's id."""

    takes_extras = False

    def __init__(self) -> None:
        self.listening: list[Listener] = []
        self.passing: dict[str, ChildStream] = {}  # a 2026-07-28 child's requests, by our id

    async def deliver(self, data: bytes, final: bool) -> Dropped:
        try:
            message = codec.loads(data) if data else None
        except codec.DecodeError:
            return "not_json"
        if not isinstance(message, dict):
            return "no_stream"
        method, params = message.get("method"), message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        tag = meta.get(SUBSCRIPTION_KEY) if isinstance(meta, dict) else None
        owner = self.passing.get(tag) if isinstance(tag, str) else None
        if owner is not None:  # a 2026-07-28 child's own listen stream
            return await owner.deliver(data, False)
        takers = [listener for listener in self.listening if listener.wants(method, params)]
        for listener in takers:
            tagged = dict(params) if isinstance(params, dict) else {}
            tagged["_meta"] = {**(tagged.get("_meta") or {}), SUBSCRIPTION_KEY: listener.id}
            await listener.outbox.deliver(codec.dumps({**message, "params": tagged}), False)
        return None if takers else "no_stream"

    async def cancelled(self, answer: bytes) -> Dropped:
        return None

    def close(self) -> None:
        for listener in self.listening:
            listener.outbox.close()


class PrincipalChild:
    """A child initialized by the bridge for one principal, and what its initialize said."""

    def __init__(self, session: Session[Any], result: dict[str, Any], key: str,
                 capabilities: frozenset[str], modern: bool = False) -> None:
        self.session = session
        self.result = result
        self.key = key
        self.capabilities = capabilities  # the client capabilities it was initialized with
        self.modern = modern  # it speaks 2026-07-28 itself: requests pass through, `result` is its discover
        self.tag = session.id.rsplit(".", 1)[-1][:12]  # names the child in the cursors it mints
        self.ids = itertools.count(1)
        self.subscribed: collections.Counter[str] = collections.Counter()  # listen streams per URI


class PrincipalChildren:
    """The pooled children of stateless requests, one per principal, started on first use."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._children: dict[str, PrincipalChild] = {}
        self._starting: dict[str, anyio.Lock] = {}
        self._idle: dict[tuple[str, frozenset[str]], list[PrincipalChild]] = {}
        self.era: str | None = None  # the child's, learnt from the first child: "modern" or "handshake"
        self._key = secrets.token_bytes(16)  # for hashing principals, never shown

    def principal(self, scope: Scope) -> str:
        """A keyed hash of who sends the request: its credential and the mapped header values."""
        digest = hashlib.blake2b(key=self._key, digest_size=16)
        digest.update((credential(scope) or "").encode() + b"\0")
        headers = Headers.of(scope).text()
        lowered = {k.lower(): v for k, v in headers.items()}
        for mapping in self.registry.header_env.mappings:
            digest.update(lowered.get(mapping.key, "").encode("utf-8", "surrogateescape") + b"\0")
        return digest.hexdigest()

    async def lease(self, scope: Scope) -> PrincipalChild:
        """The principal's shared child (for requests that cannot ask the client anything)."""
        key = self.principal(scope)
        child = self._children.get(key)
        if child is not None and not child.session.ended.is_set():
            return child
        lock = self._starting.setdefault(key, anyio.Lock())
        async with lock:
            child = self._children.get(key)
            if child is None or child.session.ended.is_set():
                self._children.pop(key, None)
                child = await self._start(scope, key, frozenset())
                self._children[key] = child
        return child

    async def lease_alone(self, scope: Scope, capabilities: frozenset[str]) -> PrincipalChild:
        """A child of the principal's for one request alone, initialized with `capabilities`:
        an idle one, or a new one. `release` gives it back."""
        key = self.principal(scope)
        idle = self._idle.get((key, capabilities), [])
        while idle:
            child = idle.pop()
            if not child.session.ended.is_set():
                return child
        return await self._start(scope, key, capabilities)

    def release(self, child: PrincipalChild) -> None:
        if not child.session.ended.is_set():
            self._idle.setdefault((child.key, child.capabilities), []).append(child)

    async def _start(self, scope: Scope, key: str, capabilities: frozenset[str]) -> PrincipalChild:
        session: Session[Any] = await open_session(self.registry, LABEL, Discard if capabilities else Listeners, scope)
        session.forwards_discover = True
        with session_context(session.tag):
            if self.era != "handshake":
                found = await self._discover(session, capabilities)
                if found is not None:
                    if self.era is None:
                        log.info("the child speaks 2026-07-28 itself: its requests pass through")
                    self.era = "modern"
                    return PrincipalChild(session, found, key, capabilities, modern=True)
                if session.ended.is_set():  # it did not survive the probe: a fresh one, by the handshake
                    self.era = "handshake"
                    return await self._start(scope, key, capabilities)
                if self.era is None:
                    log.info("the child speaks the handshake era: 2026-07-28 requests are translated")
                self.era = "handshake"
            message = {"jsonrpc": "2.0", "id": 0, "method": jsonrpc.INITIALIZE, "params": {
                "protocolVersion": jsonrpc.HANDSHAKE_VERSIONS[-1],
                "capabilities": {name: {} for name in sorted(capabilities)},
                "clientInfo": {"name": "mcp-bridge", "version": __version__}}}
            reply = await ask(session, message, INITIALIZE_TIMEOUT, self.registry.settings.stall_timeout)
            result = reply.get("result") if isinstance(reply, dict) else None
            if not isinstance(result, dict) or not session.initialized.is_set():
                session.end("the child did not answer the bridge's initialize")
                raise HttpError(500, "The server process did not answer initialize", code=jsonrpc.INTERNAL_ERROR,
                                reason="child_ended")
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await submit_all(session, [(initialized, codec.dumps(initialized))], Discard())
            log.info("child for a 2026-07-28 principal started (%s)", result.get("protocolVersion"))
        return PrincipalChild(session, result, key, capabilities)

    async def _discover(self, session: Session[Any], capabilities: frozenset[str]) -> dict[str, Any] | None:
        """Ask a new child `server/discover` as its first request: its result if it serves 2026-07-28
        itself (a dual-era server then stays in that era), else None."""
        message = {"jsonrpc": "2.0", "id": "probe", "method": jsonrpc.DISCOVER, "params": {"_meta": {
            PROTOCOL_VERSION_KEY: VERSION, CLIENT_CAPABILITIES_KEY: {name: {} for name in sorted(capabilities)},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-bridge", "version": __version__}}}}
        answer = await ask(session, message, INITIALIZE_TIMEOUT, self.registry.settings.stall_timeout)
        result = answer.get("result") if isinstance(answer, dict) else None
        versions = result.get("supportedVersions") if isinstance(result, dict) else None
        return result if isinstance(versions, list) and VERSION in versions else None


async def ask(session: Session[Any], message: dict[str, Any], within: float, stall: float) -> Any:
    """The child's answer to a request of the bridge's own, decoded; None if none came in time."""
    outbox = Outbox(False, 4, stall)
    with outbox:
        await submit_all(session, [(message, codec.dumps(message))], outbox)
        with anyio.move_on_after(within):
            while (item := await outbox.get()) is not None:
                if item[1]:
                    try:
                        return codec.loads(item[0]) if item[0] else None
                    except codec.DecodeError:
                        return None
    return None
