"""Start the real `bridge run` for the bench: its features from `--help`, a process on loopback.

`env` (added to the bench's own environment) selects which `bridge` package the console script
imports: none for the installed (editable) tree, `PYTHONPATH=<dir>/src` for a `--baseline` copy.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
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


def bridge_options(env: Mapping[str, str] | None = None) -> set[str] | None:
    """The long options `bridge run --help` lists, or None when it printed no help.

    Unavailable when the command cannot even start (missing module). Runs in its own process
    group, ended after 15 s: a CLI that mistakes `--help` for a child command would serve forever.
    """
    proc = subprocess.Popen(
        [script("bridge"), "run", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # One option per line.
        env={**os.environ, **(env or {}), "COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"},
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


def script_interpreter(name: str) -> str:
    """The interpreter of a console script (its `#!` line), else the bench's own."""
    try:
        with open(script(name), "rb") as file:
            first = file.readline().decode(errors="replace")
    except OSError:
        return sys.executable
    parts = first[2:].split() if first.startswith("#!") else []
    return parts[0] if len(parts) == 1 and os.path.isabs(parts[0]) else sys.executable


def bridge_source(env: Mapping[str, str] | None = None) -> Path:
    """The directory of the `bridge` package that `bridge` imports under `env` (bridge.cli included).

    Asked of the console script's interpreter with the script's own sys.path[0] (its directory),
    so it is the import the started bridge makes. Unavailable when that import fails.
    """
    bridge = shutil.which(script("bridge")) or script("bridge")
    code = "import sys; sys.path[0] = sys.argv[1]; import bridge, bridge.cli; print(bridge.__file__)"
    try:
        done = subprocess.run(
            [script_interpreter("bridge"), "-c", code, os.path.dirname(os.path.abspath(bridge))],
            capture_output=True,
            env={**os.environ, **(env or {})},
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"cannot ask which `bridge` is imported: {exc}") from exc
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    if done.returncode != 0:
        raise Unavailable(f"`import bridge.cli` fails: {lines[-1] if lines else done.returncode}")
    return Path(done.stdout.decode().strip()).resolve().parent


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
