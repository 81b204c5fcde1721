"""A `--fork-preload` hook for the fork tests, imported by a template only (never by a child
started by exec): `tests.bridge.fork.hold:wait` keeps the template from being ready while the file
named by `FORK_TEST_HOLD` exists (for at most `LIMIT` seconds), so a test decides when a restarted
template comes back. `CALLS` counts the calls, which a forked child inherits."""

from __future__ import annotations

import os
import time

LIMIT = 30.0
CALLS = 0


def wait() -> None:
    global CALLS
    CALLS += 1
    path = os.environ.get("FORK_TEST_HOLD", "")
    deadline = time.monotonic() + LIMIT
    while path and os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
