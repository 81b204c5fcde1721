"""Run `mcp-jira-confluence` as a real subprocess under the stdio tap and talk to it with the SDK client.

Every session's transcript is checked when it closes: each stdout line is a JSON-RPC message, and
no credential of any seeded user appears in stderr. Leftover server processes fail the test.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from atlassian_sandbox.seed import ALICE, USERS
from tests.support.procs import descendants, script

REPO = Path(__file__).resolve().parents[2]
SECRETS = tuple(s for u in USERS.values() for s in (u.api_token, u.personal_token))
SESSION_TIMEOUT = 90.0
_numbers = itertools.count(1)


def check_transcript(out_file: Path, err_file: Path, secrets: tuple[str, ...] = SECRETS) -> int:
    """Assert stdout held only JSON-RPC lines and stderr no secret; returns the number of lines."""
    lines = out_file.read_bytes().splitlines() if out_file.exists() else []
    for line in lines:
        message = json.loads(line)
        assert message.get("jsonrpc") == "2.0", line
        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    errors = err_file.read_text(errors="replace") if err_file.exists() else ""
    for secret in secrets:
        assert secret not in errors, "a credential appeared in the server's stderr"
    return len(lines)


def _server_processes() -> list[Any]:
    found = []
    for proc in descendants(os.getpid()):
        try:
            line = " ".join(proc.cmdline())
        except Exception:  # the process ended while we looked
            continue
        if "mcp-jira-confluence" in line or "stdio_tap" in line:
            found.append(proc)
    return found


@asynccontextmanager
async def legacy_client(env: Mapping[str, str], workdir: Path) -> AsyncIterator[Client]:
    """A connected client of a fresh server process, with its transcript checked afterwards.

    Besides the seeded users' credentials, any token or custom-header value in `env` must stay out of stderr.
    """
    n = next(_numbers)
    out_file, err_file = workdir / f"legacy-{n}.stdout.jsonl", workdir / f"legacy-{n}.stderr.log"
    tap = [str(out_file), str(err_file), "--", script("mcp-jira-confluence")]
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "tests.support.stdio_tap", *tap], env=dict(env), cwd=str(REPO)
    )
    with anyio.fail_after(SESSION_TIMEOUT):
        async with Client(params) as client:
            yield client
    given = tuple(v for k, v in env.items() if k.endswith(("TOKEN", "_HEADERS")) and v)
    assert check_transcript(out_file, err_file, SECRETS + given) > 0
    for _ in range(200):  # up to 10 s for the tap and the server to be reaped
        if not _server_processes():
            break
        await anyio.sleep(0.05)
    assert not _server_processes(), "a server process outlived its session"


def text(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


async def call(client: Client, name: str, arguments: dict[str, Any] | None = None) -> str:
    """Call a tool that must succeed; returns its text."""
    result = await client.call_tool(name, arguments or {})
    assert not result.is_error, f"{name} failed: {text(result)}"
    return text(result)


async def fail(client: Client, name: str, arguments: dict[str, Any] | None = None) -> str:
    """Call a tool that must fail with isError=true; returns its message."""
    result = await client.call_tool(name, arguments or {})
    assert result.is_error, f"{name} unexpectedly succeeded: {text(result)[:200]}"
    return text(result)


def page_id(sandbox: Any, title: str, space: str = "ENG") -> str:
    """A seeded page's id, asked of the sandbox itself."""
    response = httpx.get(f"{sandbox.confluence_url}/rest/api/content", params={"title": title, "spaceKey": space},
                         auth=sandbox.auth(ALICE), timeout=10)
    response.raise_for_status()
    return str(response.json()["results"][0]["id"])


def user_ref(sandbox: Any, user: Any) -> str:
    """How a test names a user to the server: email on Cloud, username on Server/DC."""
    return str(user.email if sandbox.mode == "cloud" else user.name)


async def rest(sandbox: Any, path: str, params: dict[str, Any] | None = None, *, confluence: bool = False) -> Any:
    """GET straight from the sandbox as alice (to check what the server wrote); returns the response."""
    base = sandbox.confluence_url if confluence else sandbox.jira_url
    async with httpx.AsyncClient(auth=sandbox.auth(ALICE), timeout=10) as http:
        return await http.get(base + path, params=params)
