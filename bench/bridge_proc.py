"""Start the real `bridge run` for the bench: its features from `--help`, a process on loopback."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import end_group, free_port, script, start_server

HOST = "127.0.0.1"


class Unavailable(RuntimeError):
    """A part of the bench cannot run yet (a command is missing or does not work)."""


@dataclass(frozen=True)
class Bridge:
    pid: int
    port: int


def bridge_options() -> set[str] | None:
    """The long options `bridge run --help` lists, or None when it printed no help.

    Unavailable when the command cannot even start (missing module). Runs in its own process
    group, ended after 15 s: a CLI that mistakes `--help` for a child command would serve forever.
    """
    proc = subprocess.Popen(
        [script("bridge"), "run", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"},  # one option per line
    )
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        end_group(proc)
        return None
    finally:
        end_group(proc)
    text = out.decode(errors="replace")
    if "ModuleNotFoundError" in text or "ImportError" in text:
        raise Unavailable(f"`bridge run` cannot start: {text.strip().splitlines()[-1]}")
    options = set(re.findall(r"--[a-z][a-z0-9-]*", text))
    return options if proc.returncode == 0 and "--port" in options else None


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
