"""The one HTTP client of a `bridge connect` process.

TLS is verified against `--ca-file` or the system store; HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and
NO_PROXY are honoured (httpx's `trust_env`); redirects are not followed, so headers holding
credentials never travel to another host. `--timeout` bounds connecting and sending,
`--read-timeout` the silence on an answer.
"""

from __future__ import annotations

from typing import Final

import httpx

from bridge import __version__
from bridge.connect.options import Validated

USER_AGENT: Final = f"bridge-connect/{__version__}"
ACCEPT_BOTH: Final = "application/json, text/event-stream"
EVENT_STREAM: Final = "text/event-stream"
JSON: Final = "application/json"


def http_client(validated: Validated) -> httpx.AsyncClient:
    options = validated.options
    own = {name.lower() for name, _ in validated.headers}
    headers = ([] if "user-agent" in own else [("user-agent", USER_AGENT)]) + validated.headers
    return httpx.AsyncClient(
        headers=headers,
        verify=validated.tls,
        trust_env=True,
        follow_redirects=False,
        timeout=httpx.Timeout(connect=options.timeout, read=options.read_timeout, write=options.timeout,
                              pool=options.timeout),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=8),
    )


def media_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
