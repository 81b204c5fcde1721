"""The remote over legacy SSE (2024-11-05): `GET` on the URL opens the session's one event stream,
whose first event, `endpoint`, names where to POST messages (202); every answer, request and
notification of the server comes on that stream. The session lasts as long as the stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from anyio.abc import TaskStatus

from bridge.connect.client import EVENT_STREAM, JSON, media_type
from bridge.connect.messages import Key
from bridge.connect.problems import RemoteProblem, describe, read_some, status
from bridge.connect.remote import NOT_FOUND, SENT, Link, Outcome, Remote, deliver_answer, deliver_data, failed
from bridge.connect.sse import Event, events

log = logging.getLogger("bridge.connect")


class LegacyRemote(Remote):
    """`close` (the base's) closes the stream, which ends the session on the server."""

    transport = "legacy SSE"
    answers_on_post = False

    def __init__(self, link: Link) -> None:
        super().__init__(link)
        self.endpoint = ""

    @classmethod
    async def open(cls, link: Link) -> LegacyRemote:
        """Open the event stream and wait for its endpoint; `RemoteProblem` if that fails."""
        remote = cls(link)
        await link.tasks.start(remote._run)
        return remote

    async def _run(self, *, task_status: TaskStatus[None]) -> None:
        started = False
        why = "the server closed the event stream"
        with self._scope:
            try:
                request = self.link.http.build_request("GET", self.link.url, headers={"accept": EVENT_STREAM})
                response = await self.link.http.send(request, stream=True)
                try:
                    await self._check(response)
                    async with contextlib.aclosing(events(response.aiter_bytes())) as stream:
                        self.endpoint = await self._endpoint(stream)
                        started = True
                        task_status.started()
                        async for event in stream:
                            if event.event == "message" and event.data.strip():
                                await deliver_data(self.link.sink, event.data)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                if not started:
                    raise RemoteProblem(f"GET: {describe(exc)}") from None
                why = f"the event stream broke: {describe(exc)}"
            except RemoteProblem:
                raise
            except Exception as exc:  # never the process's end: this session is over, another can open
                if not started:
                    raise RemoteProblem(f"GET: {describe(exc)}") from None
                log.error("event stream stopped: %s", describe(exc), exc_info=log.isEnabledFor(logging.DEBUG))
        if started and not self._scope.cancel_called:
            self.lose(why)

    async def _check(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            body = await read_some(response)
            raise RemoteProblem(status(response, body, "GET"), response.status_code)
        kind = media_type(response)
        if kind != EVENT_STREAM:
            raise RemoteProblem(f"GET: HTTP 200 with {kind or 'no content type'}, not an event stream", 200)

    async def _endpoint(self, stream: AsyncGenerator[Event, None]) -> str:
        """The first `endpoint` event's URL, resolved against ours; only on our own origin."""
        async for event in stream:
            if event.event != "endpoint":
                continue
            endpoint = urljoin(self.link.url, event.data.decode("utf-8", "replace").strip())
            ours, theirs = urlsplit(self.link.url), urlsplit(endpoint)
            if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
                raise RemoteProblem(f"the endpoint event names another origin ({theirs.scheme}://{theirs.netloc})")
            found = parse_qs(theirs.query).get("session_id") or parse_qs(theirs.query).get("sessionId")
            self.session_id = found[0] if found else None
            return endpoint
        raise RemoteProblem("the event stream ended before its endpoint event")

    def listen(self) -> None:
        """The one event stream is open from the start."""

    async def post(self, body: bytes, keys: frozenset[Key], accepted: Callable[[], None]) -> Outcome:
        if self.is_lost:
            accepted()
            return NOT_FOUND
        try:
            response = await self.link.http.post(self.endpoint, content=body, headers={"content-type": JSON})
        except httpx.HTTPError as exc:
            return failed(describe(exc))
        finally:
            accepted()
        code = response.status_code
        if 200 <= code < 300:
            return SENT
        if code == 404:
            return NOT_FOUND
        if media_type(response) == JSON and await deliver_answer(self.link.sink, response.content, keys):
            return SENT
        return failed(status(response, response.content, "POST"), code)
