"""Resumable Streamable HTTP streams: event ids that name their stream, a priming event with
`retry:`, and a GET with `Last-Event-ID` that gets exactly what was missed of that stream, in
order, once; bounded replay with counted gaps; `--no-resume`."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.bridge.conftest import BridgeFactory
from tests.bridge.core.raw import HEADERS, call, session
from tests.bridge.core.test_observability import scrape, value

Event = tuple[str | None, str | None, dict[str, Any] | None]  # (id, retry, message or None for priming)


def events(lines: Iterator[str]) -> Iterator[Event]:
    """Every SSE event with an id or data (keep-alive comments skipped)."""
    event_id: str | None = None
    retry: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if event_id is not None or data:
                text = "\n".join(data)
                yield event_id, retry, (httpx.Response(200, content=text).json() if text else None)
            event_id, retry, data = None, None, []
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("retry: "):
            retry = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def progress_call(id_: int, count: int, interval: float) -> dict[str, Any]:
    message = call(id_, "progress", count=count, interval=interval)
    message["params"]["_meta"] = {"progressToken": f"tok-{id_}"}
    return message


def test_events_carry_ids_naming_their_stream_and_a_priming_event(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            headers = {**HEADERS, "mcp-session-id": session_id}
            streams = []
            for id_ in (1, 2):
                with client.stream("POST", url, json=progress_call(id_, 3, 0), headers=headers) as response:
                    got = list(events(response.iter_lines()))
                priming, *rest = got
                assert priming[2] is None and priming[1] == "1000"
                stream = priming[0].split("-")[0]  # type: ignore[union-attr]
                assert priming[0] == f"{stream}-0"
                assert [e[2]["params"]["progress"] for e in rest[:3]] == [1, 2, 3]  # type: ignore[index]
                assert rest[-1][2]["id"] == id_  # type: ignore[index]
                ids = [e[0] for e in rest]
                assert all(i is not None and i.startswith(f"{stream}-") for i in ids)
                seqs = [int(i.split("-")[1]) for i in ids]  # type: ignore[union-attr]
                assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
                streams.append(stream)
            assert streams[0] != streams[1]


def read_until(lines: Iterator[str], seen: list[Event], stop_after: int | None) -> bool:
    """Collect events into `seen`; True when the answer came, False when `stop_after` were read."""
    taken = 0
    for event in events(lines):
        if event[2] is None:
            continue  # priming
        seen.append(event)
        taken += 1
        if "id" in event[2]:
            return True
        if stop_after is not None and taken >= stop_after:
            return False
    return False


def test_random_disconnects_and_resumes_lose_and_repeat_nothing(bridge: BridgeFactory) -> None:
    rng = random.Random(20261128)
    count = 60
    with bridge() as b, httpx.Client(timeout=30) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            headers = {**HEADERS, "mcp-session-id": session_id}
            for round_ in range(3):
                seen: list[Event] = []
                last_id: str | None = None
                with client.stream("POST", url, json=progress_call(round_, count, 0.005), headers=headers) as first:
                    lines = first.iter_lines()
                    last_id = next(events(lines))[0]  # the priming event's id
                    done = read_until(lines, seen, rng.randint(1, 10))
                reconnects = 0
                while not done:
                    if seen:
                        last_id = seen[-1][0]
                    reconnects += 1
                    assert reconnects < 100
                    resume = {**headers, "last-event-id": str(last_id)}
                    with client.stream("GET", url, headers=resume) as again:
                        assert again.status_code == 200, again.read()
                        done = read_until(again.iter_lines(), seen, rng.randint(1, 15))
                progress = [e[2]["params"]["progress"] for e in seen if e[2] and "method" in e[2]]
                assert progress == list(range(1, count + 1)), f"round {round_}: {progress}"
                answers = [e[2] for e in seen if e[2] and "id" in e[2]]
                assert [a["id"] for a in answers] == [round_]
                assert reconnects >= 1
                assert len({e[0] for e in seen}) == len(seen)  # no event twice
        metrics = scrape(client, b.url)
        assert value(metrics, "bridge_resumes_total") >= 3
        assert value(metrics, "bridge_resume_gaps_total") == 0


def test_get_stream_resumes_after_a_disconnect(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=30) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            headers = {**HEADERS, "mcp-session-id": session_id}
            with client.stream("GET", url, headers=headers) as stream:
                priming = next(events(stream.iter_lines()))
            assert priming[2] is None and priming[0] is not None and priming[0].startswith("0-")
            client.post(url, json=call(1, "later", count=3, seconds=0.05), headers=headers).read()
            notes: list[Event] = []
            last = priming[0]
            while len(notes) < 3:
                with client.stream("GET", url, headers={**headers, "last-event-id": last}) as stream:
                    for event in events(stream.iter_lines()):
                        if event[2] is not None:
                            notes.append(event)
                            last = str(event[0])
                            break  # drop the connection after each note
            assert [n[2]["params"]["data"] for n in notes] == ["later 0", "later 1", "later 2"]  # type: ignore[index]


def test_replay_is_bounded_and_gaps_are_counted(bridge: BridgeFactory) -> None:
    with bridge("--resume-buffer", "5") as b, httpx.Client(timeout=30) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            headers = {**HEADERS, "mcp-session-id": session_id}
            with client.stream("POST", url, json=progress_call(1, 20, 0), headers=headers) as response:
                priming = next(events(response.iter_lines()))
            for _ in range(200):  # until the answer went through (into a log that keeps 5 of 21 events)
                if value(scrape(client, b.url), "bridge_request_duration_seconds_count", method="tools/call"):
                    break
                time.sleep(0.02)
            with client.stream("GET", url, headers={**headers, "last-event-id": str(priming[0])}) as again:
                replayed = [e for e in events(again.iter_lines()) if e[2] is not None]
            kept = [e[2] for e in replayed]
            assert len(kept) <= 5 and kept[-1]["id"] == 1  # type: ignore[index]
        metrics = scrape(client, b.url)
        assert value(metrics, "bridge_resume_gaps_total") == 1
        assert value(metrics, "bridge_resume_events_evicted_total") >= 16


def test_unknown_last_event_id_is_400(bridge: BridgeFactory) -> None:
    with bridge() as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            for bad in ("99-1", "garbage", "1-999999"):
                response = client.get(url, headers={**HEADERS, "mcp-session-id": session_id, "last-event-id": bad})
                assert response.status_code == 400
                assert response.json()["error"]["code"] == -32600


def test_no_resume_means_no_ids(bridge: BridgeFactory) -> None:
    with bridge("--no-resume") as b, httpx.Client(timeout=20) as client:
        url = b.url + "/mcp"
        with session(client, url) as session_id:
            headers = {**HEADERS, "mcp-session-id": session_id}
            with client.stream("POST", url, json=progress_call(1, 3, 0), headers=headers) as response:
                got = list(events(response.iter_lines()))
            assert got and all(e[0] is None and e[2] is not None for e in got)
