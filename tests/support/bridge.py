"""Start the real `bridge run` as a process on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.support.procs import Started, free_port, script, start_server, wait_no_descendants


@contextlib.contextmanager
def run_bridge(
    child_argv: Sequence[str],
    log_path: Path,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    check_no_children: bool = True,
) -> Iterator[Started]:
    """`bridge run --host 127.0.0.1 --port P [options] -- child_argv`, ready when /healthz answers.

    `Started.url` is the base URL (http://127.0.0.1:P). On exit the bridge gets SIGTERM; with
    `check_no_children` the test fails if any child of the bridge outlived its session. SIGTERM
    shuts down without a drain (`--drain-timeout 0`) unless the test gives its own drain timeout.
    """
    port = free_port()
    drain = () if any(o.startswith("--drain-timeout") for o in options) else ("--drain-timeout", "0")
    argv = [script("bridge"), "run", "--host", "127.0.0.1", "--port", str(port), *drain, *options, "--",
            *child_argv]
    with start_server(argv, f"http://127.0.0.1:{port}/healthz", log_path, env=env) as started:
        started.url = f"http://127.0.0.1:{port}"
        yield started
        if check_no_children:
            left = wait_no_descendants(started.pid, timeout=15.0)
            assert not left, f"children of the bridge still alive: {[p.pid for p in left]}"
