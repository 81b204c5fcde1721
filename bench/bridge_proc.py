"""Start the real `bridge run` for the bench: its features from `--help`, a process on loopback."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import free_port, script, start_server

HOST = "127.0.0.1"


class Unavailable(RuntimeError):
    """A part of the bench cannot run yet (a command is missing or does not work)."""


@dataclass(frozen=True)
class Bridge:
    pid: int
    port: int


def bridge_options() -> set[str]:
    """The long options `bridge run --help` lists; Unavailable when the command does not work."""
    try:
        done = subprocess.run(
            [script("bridge"), "run", "--help"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"`bridge run --help` failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise Unavailable(f"`bridge run --help` exited with {done.returncode}: {tail[0]}")
    return set(re.findall(r"--[a-z][a-z0-9-]*", done.stdout))


@contextlib.contextmanager
def running_bridge(
    child_argv: Sequence[str],
    log_path: Path,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Bridge]:
    """`bridge run --host 127.0.0.1 --port P [options] -- child_argv`, ready on /healthz, ended on exit."""
    port = free_port()
    argv = [script("bridge"), "run", "--host", HOST, "--port", str(port), *options, "--", *child_argv]
    with contextlib.ExitStack() as stack:
        try:
            started = stack.enter_context(
                start_server(argv, f"http://{HOST}:{port}/healthz", log_path, env, 30)
            )
        except (RuntimeError, TimeoutError) as exc:
            raise Unavailable(f"the bridge did not start ({exc}); see {log_path}") from exc
        yield Bridge(started.pid, port)
