"""Start-up refusals of `--fork-server`: a command that is not a Python program, a server the
template cannot import, a preload that cannot be imported, and a malformed `--fork-preload` each
exit 2 before serving, with one clear line that names the option and the reason, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.procs import script

pytestmark = pytest.mark.timeout(120)

ECHO = [sys.executable, "-m", "tests.bridge.core.echo_server"]


def bridge_run(*args: str) -> subprocess.CompletedProcess[str]:
    """`bridge run --port 0 ARGS...` to its end (bounded), output captured."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([script("bridge"), "run", "--host", "127.0.0.1", "--port", "0", *args],
                          capture_output=True, text=True, env=env, timeout=90, stdin=subprocess.DEVNULL)


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if " ERROR " in line]


def assert_refused(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 2, no traceback, exactly one ERROR line naming --fork-server and each of `expected`."""
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    found = errors(done)
    assert len(found) == 1, output
    line = found[0]
    assert "--fork-server" in line, line
    for text in expected:
        assert text in line, line
    assert "listening on" not in output, output
    return line


@pytest.mark.parametrize(("command", "named"), [
    (["/bin/true"], "'/bin/true'"),
    (["sh", "-c", "exec python3 -m http.server"], "'sh'"),
])
def test_a_command_that_is_no_python_program_exits_2_naming_fork_server(command: list[str], named: str) -> None:
    done = bridge_run("--fork-server", "--", *command)
    line = assert_refused(done, "cannot fork", named, "is not a Python console script (no #! line)")
    assert line.count("--fork-server") == 1


def test_python_running_a_script_file_exits_2_saying_how_python_is_forked() -> None:
    done = bridge_run("--fork-server", "--", sys.executable, "tests/bridge/core/echo_server.py")
    assert_refused(done, "cannot fork", "`python -m MODULE [ARGS...]`")


def test_a_command_not_on_path_exits_2_saying_so() -> None:
    done = bridge_run("--fork-server", "--", "no-such-server-xyz")
    assert_refused(done, "'no-such-server-xyz' is not found on the child's PATH")


def test_a_module_the_template_cannot_import_exits_2_saying_the_import_failed() -> None:
    done = bridge_run("--fork-server", "--", sys.executable, "-m", "no_such_module_xyz")
    assert_refused(done, "the template could not start", "importing the server failed",
                   "ModuleNotFoundError", "no_such_module_xyz")


def test_a_preload_the_template_cannot_import_exits_2_naming_it() -> None:
    done = bridge_run("--fork-server", "--fork-preload", "no_such_preload_xyz", "--", *ECHO)
    assert_refused(done, "the template could not start", "importing the server failed", "no_such_preload_xyz")


@pytest.mark.parametrize("bad", ["bad name!", "pkg.mod:", "pkg.mod:a:b"])
def test_a_malformed_fork_preload_is_a_bad_parameter(bad: str) -> None:
    done = bridge_run("--fork-server", "--fork-preload", bad, "--", *ECHO)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    assert "Invalid value for '--fork-preload'" in output and repr(bad) in output, output
    assert "listening on" not in output, output
