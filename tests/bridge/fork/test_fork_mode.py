"""Fork mode works: with `--fork-server` every session's child is forked from the template, over
Streamable HTTP and legacy SSE alike. A forked child answers like a started one, is a child of the
bridge (not of the template), leads its own session and process group, and `/readyz` and
`/metrics` say children are forked. Children are isolated from each other and from the template:
each has only its own session's header variables, none of the bridge's `BRIDGE_*` configuration,
and its own random state; the template never sees a header value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from mcp import Client

from .conftest import (
    ECHO_SERVER,
    TRANSPORTS,
    ForkBridge,
    ForkBridgeFactory,
    Transport,
    client,
    environ,
    stat,
    text,
    tool,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

HEADER_ENV = ("--header-env", "X-Fork-Tag=FORK_TAG,X-Fork-Only=FORK_ONLY", "--header-env-missing", "allow")
BRIDGE_ENV = {"BRIDGE_FORK_TEST_PRIVATE": "bridge-private-value", "FORK_SHARED": "shared-by-every-child"}
PRELOAD = "tests.bridge.fork.hold"


def assert_forked_child_of(b: ForkBridge, pid: int) -> None:
    """`pid` was forked (the log says so), is the bridge's own child, and leads its own session
    and process group, as a child started by exec would."""
    assert pid in b.forked(), f"child {pid} was not forked:\n{b.log()[-3000:]}"
    assert pid not in b.execed()
    found = stat(pid)
    assert found["ppid"] == b.pid, f"child {pid}'s parent is {found['ppid']}, not the bridge {b.pid}"
    assert found["pgid"] == found["sid"] == pid, found
    template = b.template_pid()
    assert stat(template)["ppid"] == b.pid and pid != template


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_echo_server_sessions_are_forked_children_of_the_bridge(
    fork_bridge: ForkBridgeFactory, transport: Transport
) -> None:
    with fork_bridge(child=ECHO_SERVER) as b:
        async with client(transport, b.url) as one, client(transport, b.url) as two:
            assert text(await one.call_tool("echo", {"text": "hello one"})) == "hello one"
            assert text(await two.call_tool("echo", {"text": "hello two"})) == "hello two"
            pids = [(await tool(session, "pid"))["pid"] for session in (one, two)]
            assert len(set(pids)) == 2
            for pid in pids:
                assert_forked_child_of(b, pid)
            assert b.ready() == (200, {"status": "ready", "children": "fork"})
            metrics = b.metrics()
            assert metrics["bridge_children_forked_total"] >= 2
            assert metrics["bridge_fork_server_up"] == 1
            assert metrics["bridge_fork_fallbacks_total"] == 0
            assert metrics["bridge_fork_server_restarts_total"] == 0
        assert not b.execed(), "no child may have been started by exec while the template was up"
    assert "children: fork" in b.log()


async def test_preloaded_module_is_imported_once_in_the_template_and_inherited(fork_bridge: ForkBridgeFactory) -> None:
    """`--fork-preload MOD:func` runs `func` once, in the template: each forked child has the module
    already imported with the one call counted (the server itself never imports it)."""
    with fork_bridge("--fork-preload", f"{PRELOAD}:wait") as b:
        async with client("streamable", b.url) as one, client("sse", b.url) as two:
            for session in (one, two):
                assert await tool(session, "loaded", name=PRELOAD) == {"loaded": True, "calls": 1}
            assert await tool(one, "loaded", name="tests.bridge.fork.no_such_module") == {"loaded": False,
                                                                                         "calls": None}


def headers(tag: str, only: str | None = None) -> dict[str, str]:
    return {"x-fork-tag": tag, **({"x-fork-only": only} if only else {})}


async def view_of(session: Client) -> dict[str, Any]:
    """What a session's child sees of itself: its variables, ids, and two draws of randomness."""
    return {
        "tag": await tool(session, "env", name="FORK_TAG"),
        "only": await tool(session, "env", name="FORK_ONLY"),
        "environ": await tool(session, "environ"),
        "ids": await tool(session, "ids"),
        "random": [await tool(session, "random"), await tool(session, "random")],
    }


async def session_view(transport: Transport, url: str, given: Mapping[str, str]) -> dict[str, Any]:
    """`view_of` a new session's child, the session closed afterwards."""
    async with client(transport, url, given) as session:
        return await view_of(session)


async def test_sessions_see_only_their_own_header_variables_and_the_template_none(
    fork_bridge: ForkBridgeFactory,
) -> None:
    with fork_bridge(*HEADER_ENV, env=BRIDGE_ENV) as b:
        async with (
            client("streamable", b.url, headers("tag-a", "only-in-a")) as a,
            client("sse", b.url, headers("tag-b")) as other,
        ):
            seen_a, seen_b = await view_of(a), await view_of(other)
            template = environ(b.template_pid())
        for seen in (seen_a, seen_b):
            assert_forked_child_of(b, seen["ids"]["pid"])
    assert (seen_a["tag"], seen_a["only"]) == ("tag-a", "only-in-a")
    assert (seen_b["tag"], seen_b["only"]) == ("tag-b", None)
    assert "FORK_ONLY" not in seen_b["environ"] and "only-in-a" not in seen_b["environ"].values()
    assert "tag-a" not in seen_b["environ"].values() and "tag-b" not in seen_a["environ"].values()
    for seen in (seen_a, seen_b):
        assert [name for name in seen["environ"] if name.startswith("BRIDGE_")] == []
        assert "bridge-private-value" not in seen["environ"].values()
        assert seen["environ"]["FORK_SHARED"] == "shared-by-every-child"
    # The template has what every child gets, and nothing any session brought.
    assert template.get("FORK_SHARED") == "shared-by-every-child"
    assert not {"FORK_TAG", "FORK_ONLY"} & template.keys()
    assert not {"tag-a", "tag-b", "only-in-a", "bridge-private-value"} & set(template.values())
    assert [name for name in template if name.startswith("BRIDGE_")] == []


async def test_a_forked_child_sees_itself_started_exactly_like_an_execd_one(fork_bridge: ForkBridgeFactory) -> None:
    """The same session headers give the same `os.environ`, and the program sees the same `sys.argv`,
    `sys.path`, working directory, process name, signal dispositions, threads and open file
    descriptors, whether its child was forked from the template or started by exec."""
    views: dict[str, dict[str, Any]] = {}
    for fork in (True, False):
        with fork_bridge(*HEADER_ENV, env=BRIDGE_ENV, fork=fork) as b:
            async with client("streamable", b.url, headers("tag-x", "only-x")) as session:
                views["fork" if fork else "exec"] = {"environ": await tool(session, "environ"),
                                                     "process": await tool(session, "process")}
    forked, started = views["fork"]["environ"], views["exec"]["environ"]
    assert forked == started, {
        "only when forked": sorted(forked.keys() - started.keys()),
        "only when started": sorted(started.keys() - forked.keys()),
        "differing": sorted(k for k in forked.keys() & started.keys() if forked[k] != started[k]),
    }
    assert views["fork"]["process"] == views["exec"]["process"]


async def test_two_forked_children_draw_different_random_values(fork_bridge: ForkBridgeFactory) -> None:
    """`random` is reseeded in each fork and `os.urandom` is the kernel's: no two children (nor two
    draws of one child) repeat a value inherited from the template."""
    with fork_bridge() as b:
        one = await session_view("streamable", b.url, {})
        two = await session_view("sse", b.url, {})
        three = await session_view("streamable", b.url, {})
    draws = [d for view in (one, two, three) for d in view["random"]]
    assert len({d["random"] for d in draws}) == len(draws) == 6
    assert len({d["urandom"] for d in draws}) == 6
    assert len({view["ids"]["pid"] for view in (one, two, three)}) == 3
