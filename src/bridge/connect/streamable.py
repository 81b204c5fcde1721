"""The remote over Streamable HTTP: every message a POST to the URL; answers come back on the POST
(one JSON body, or an event stream that also carries the server's requests and notifications
about that request); the rest on a GET stream opened once the session is initialized (405: the
server offers none). A request's stream that drops, or that the server closes early, is resumed
with `GET` + `Last-Event-ID` when the server gave event ids. 404 on a known session: it is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import anyio
import httpx

from bridge.connect.client import ACCEPT_BOTH, EVENT_STREAM, JSON, media_type
from bridge.connect.messages import Key
from bridge.connect.problems import describe, read_some, status
from bridge.connect.remote import NOT_FOUND, SENT, Link, Outcome, Remote, deliver_answer, deliver_data, failed
from bridge.connect.sse import Parser

log = logging.getLogger("bridge.connect")

RESUME_FAILURES: Final = 3
"""Resumes in a row that bring nothing before a request's answer is given up."""
RETRY_DEFAULT: Final = 1.0
RETRY_MAX: Final = 30.0


class StreamableRemote(Remote):
    transport = "Streamable HTTP"
    answers_on_post = True

    def __init__(self, link: Link) -> None:
        super().__init__(link)
        self.protocol_version: str | None = None
        self._listening = False

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"accept": accept}
        if self.session_id is not None:
            headers["mcp-session-id"] = self.session_id
        if self.protocol_version is not None:
            headers["mcp-protocol-version"] = self.protocol_version
        return headers

    # ----- POST ------------------------------------------------------------------------------

    async def post(self, body: bytes, keys: frozenset[Key], accepted: Callable[[], None]) -> Outcome:
        named = self.session_id is not None
        headers = {**self._headers(ACCEPT_BOTH), "content-type": JSON}
        try:
            async with self.link.http.stream("POST", self.link.url, content=body, headers=headers) as response:
                accepted()
                if not named and (given := response.headers.get("mcp-session-id")):
                    self.session_id = given
                return await self._answer(response, keys, named)
        except httpx.HTTPError as exc:
            return failed(describe(exc))
        finally:
            accepted()

    async def _answer(self, response: httpx.Response, keys: frozenset[Key], named: bool) -> Outcome:
        code = response.status_code
        if code == 404 and named:
            return NOT_FOUND
        if code in (202, 204):
            return SENT
        kind = media_type(response)
        if 200 <= code < 300 and kind == EVENT_STREAM:
            return await self._read_stream(response, keys)
        if 200 <= code < 300 and kind == JSON:
            await deliver_data(self.link.sink, await response.aread())
            return SENT
        body = await read_some(response)
        if 200 <= code < 300:
            return failed(f"POST: HTTP {code} with {kind or 'no content type'}, not JSON or an event stream",
                          code)
        if kind == JSON and await deliver_answer(self.link.sink, body, keys):
            return SENT
        return failed(status(response, body, "POST"), code)

    async def _read_stream(self, response: httpx.Response, keys: frozenset[Key]) -> Outcome:
        parser = Parser()
        problem = "the server ended the answer stream before answering"
        try:
            if await self._pump(response, parser, keys):
                return SENT
        except httpx.HTTPError as exc:
            problem = f"the answer stream broke: {describe(exc)}"
        return await self._resume(parser, keys, problem)

    async def _pump(self, response: httpx.Response, parser: Parser, keys: frozenset[Key]) -> bool:
        """Deliver a stream's messages until nothing of `keys` is awaited (True) or it ends."""
        sink = self.link.sink
        async for chunk in response.aiter_bytes():
            for event in parser.feed(chunk):
                if event.event == "message" and event.data.strip():
                    await deliver_data(sink, event.data)
            if not sink.waiting(keys):
                return True
        return not sink.waiting(keys)

    async def _resume(self, parser: Parser, keys: frozenset[Key], problem: str) -> Outcome:
        """Follow a request's stream on `GET` + `Last-Event-ID` until its answers are in."""
        fruitless = 0
        while self.link.sink.waiting(keys):
            if parser.last_id is None or self.session_id is None:
                return failed(f"{problem} (and gave no event id to resume from)")
            if fruitless >= RESUME_FAILURES:
                return failed(f"{problem} (resumed {fruitless} times in vain)")
            await anyio.sleep(_retry(parser))
            before = parser.last_id
            parser.restart()
            headers = {**self._headers(EVENT_STREAM), "last-event-id": before}
            log.info("resuming a request's stream after event %s", before)
            try:
                async with self.link.http.stream("GET", self.link.url, headers=headers) as response:
                    if response.status_code == 404:
                        self.lose("404 on resuming a stream")
                        return failed("the remote session ended before it answered")
                    if response.status_code != 200 or media_type(response) != EVENT_STREAM:
                        body = await read_some(response)
                        return failed(f"{problem}; resuming it: {status(response, body, 'GET')}", response.status_code)
                    if await self._pump(response, parser, keys):
                        return SENT
                problem = "the server ended the resumed stream before answering"
            except httpx.ConnectError as exc:  # nothing listens: its streams are gone with it
                return failed(f"{problem}; resuming it: {describe(exc)}")
            except httpx.HTTPError as exc:
                problem = f"the resumed stream broke: {describe(exc)}"
            fruitless = 0 if parser.last_id != before else fruitless + 1
        return SENT

    # ----- GET stream and DELETE -------------------------------------------------------------

    def listen(self) -> None:
        if self._listening or self.session_id is None or self.is_lost:
            return
        self._listening = True
        self.link.tasks.start_soon(self._listen)

    async def _listen(self) -> None:
        """The session's GET stream, reconnected (with `Last-Event-ID`) until the session ends."""
        with self._scope:
            try:
                await self._follow()
            except Exception as exc:  # never the process's end: the session goes on without it
                log.error("GET stream stopped: %s", describe(exc), exc_info=log.isEnabledFor(logging.DEBUG))

    async def _follow(self) -> None:
        parser = Parser()
        failures = 0
        while not self.is_lost:
            headers = self._headers(EVENT_STREAM)
            if parser.last_id is not None:
                headers["last-event-id"] = parser.last_id
            parser.restart()
            try:
                async with self.link.http.stream("GET", self.link.url, headers=headers) as response:
                    code = response.status_code
                    if code == 405:
                        log.info("the server offers no GET stream (405): messages come on POST answers only")
                        return
                    if code == 404:
                        self.lose("404 on the GET stream")
                        return
                    if code == 400 and parser.last_id is not None:
                        parser.last_id = None  # an id the server no longer knows: start afresh
                    elif code != 200 or media_type(response) != EVENT_STREAM:
                        body = await read_some(response)
                        log.warning("GET stream: %s", status(response, body, "GET"))
                        if code < 500 and code not in (408, 409, 429):  # 409: our last stream, not yet noticed gone
                            return
                        failures += 1
                    else:
                        failures = 0
                        async for chunk in response.aiter_bytes():
                            for event in parser.feed(chunk):
                                if event.event == "message" and event.data.strip():
                                    await deliver_data(self.link.sink, event.data)
            except httpx.HTTPError as exc:
                failures += 1
                log.debug("GET stream: %s", describe(exc))
            await anyio.sleep(min(_retry(parser) * 2**failures, RETRY_MAX))

    async def close(self) -> None:
        """DELETE the session (its end on the server too), unless the server ended it already."""
        was_lost = self.is_lost
        await super().close()
        if was_lost or self.session_id is None:
            return
        try:
            with anyio.move_on_after(self.link.timeout):
                response = await self.link.http.delete(self.link.url, headers=self._headers(ACCEPT_BOTH))
                log.info("DELETE %s: HTTP %d", self.name, response.status_code)
        except httpx.HTTPError as exc:
            log.info("DELETE %s: %s", self.name, describe(exc))


def _retry(parser: Parser) -> float:
    """The reconnection delay the server advised (`retry:`), else a second."""
    if parser.retry_ms is None:
        return RETRY_DEFAULT
    return min(max(parser.retry_ms / 1000, 0.0), RETRY_MAX)
