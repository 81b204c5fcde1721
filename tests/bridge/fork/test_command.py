"""`bridge.fork.command.resolve`: which Python program a child command runs, so a template can
import it. A console script names its interpreter on its first line (an absolute path, `env
python3`, or pip's `/bin/sh` + `'''exec'` form for a path too long or with a space); `python -m
MODULE` names its module. Anything else is refused with a `ForkCommandError` that says why."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from bridge.fork.command import ForkCommandError, ForkTarget, resolve
from bridge.fork.server import TEMPLATE

ENTRY_POINT = (
    "# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom demo.cli import main\n"
    "if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit(main())\n"
)
LONG_PYTHON = "/opt/" + "v" * 140 + "/bin/python3"
"""A venv interpreter whose path is longer than a shebang may be (127 bytes on Linux)."""


def console_script(bin_dir: Path, first_lines: str, name: str = "demo-tool") -> Path:
    """An executable console script as pip writes it: `first_lines`, then the entry point's body."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(first_lines + ENTRY_POINT)
    path.chmod(0o755)
    return path


def what(target: ForkTarget) -> dict[str, object]:
    """The fields that say which program the template runs and how it sees itself started."""
    return {"interpreter": target.interpreter, "kind": target.kind, "name": target.name, "argv": target.argv,
            "path0": target.path0}


def env_with_path(*dirs: Path) -> dict[str, str]:
    return {"PATH": os.pathsep.join(str(d) for d in dirs), "HOME": "/nonexistent"}


# ----- console scripts -----------------------------------------------------------------------------


def test_console_script_with_an_absolute_python_shebang(tmp_path: Path) -> None:
    script = console_script(tmp_path / "bin", f"#!{sys.executable}\n")
    target = resolve([str(script), "--verbose", "x"], env_with_path(tmp_path / "bin"), None)
    assert what(target) == {
        "interpreter": sys.executable, "kind": "console", "name": "demo-tool",
        "argv": (str(script), "--verbose", "x"), "path0": str(tmp_path / "bin"),
    }


def test_console_script_found_by_name_on_the_childs_path(tmp_path: Path) -> None:
    script = console_script(tmp_path / "bin", "#!/usr/bin/python3.11\n")
    target = resolve(["demo-tool"], env_with_path(tmp_path / "empty", tmp_path / "bin"), None)
    assert (target.interpreter, target.kind, target.name) == ("/usr/bin/python3.11", "console", "demo-tool")
    assert target.argv == (str(script),)


def test_venv_interpreter_is_kept_as_the_shebang_names_it_not_resolved(tmp_path: Path) -> None:
    """A venv's `bin/python` is a symlink to the base interpreter; only the link's own path makes
    the template run inside the venv, so it must not be resolved."""
    venv_python = Path(sys.executable)
    assert venv_python.is_symlink(), "the test venv's python is expected to be a symlink"
    script = console_script(tmp_path / "bin", f"#!{venv_python}\n")
    assert resolve([str(script)], env_with_path(tmp_path / "bin"), None).interpreter == str(venv_python)


def test_console_script_with_env_python3_shebang(tmp_path: Path) -> None:
    interpreters = tmp_path / "interpreters"
    interpreters.mkdir()
    (interpreters / "python3").symlink_to(sys.executable)
    script = console_script(tmp_path / "bin", "#!/usr/bin/env python3\n")
    target = resolve([str(script)], env_with_path(tmp_path / "bin", interpreters), None)
    assert target.interpreter == str(interpreters / "python3")
    assert (target.kind, target.name, target.argv) == ("console", "demo-tool", (str(script),))


def test_console_script_in_pips_sh_exec_form_for_a_long_interpreter_path(tmp_path: Path) -> None:
    """What pip (distlib's ScriptMaker) writes when `#!path` would be too long for the kernel."""
    script = console_script(tmp_path / "bin", f"#!/bin/sh\n'''exec' {LONG_PYTHON} \"$0\" \"$@\"\n' '''\n")
    target = resolve([str(script), "serve"], env_with_path(tmp_path / "bin"), None)
    assert target.interpreter == LONG_PYTHON
    assert (target.kind, target.name, target.argv) == ("console", "demo-tool", (str(script), "serve"))


def test_console_script_in_pips_sh_exec_form_for_a_venv_path_with_a_space(tmp_path: Path) -> None:
    """pip also uses the `/bin/sh` form when the interpreter's path holds a space, and then quotes
    the path (distlib's `enquote_executable`): `'''exec' "/srv/my tools/bin/python3" "$0" "$@"`."""
    python = "/srv/my tools/venv/bin/python3"
    script = console_script(tmp_path / "bin", f"#!/bin/sh\n'''exec' \"{python}\" \"$0\" \"$@\"\n' '''\n")
    target = resolve([str(script)], env_with_path(tmp_path / "bin"), None)
    assert target.interpreter == python


# ----- python -m ---------------------------------------------------------------------------------


def test_python_dash_m_module_with_arguments(tmp_path: Path) -> None:
    interpreters = tmp_path / "interpreters"
    interpreters.mkdir()
    (interpreters / "python").symlink_to(sys.executable)
    target = resolve(["python", "-m", "pkg.mod", "--port", "0"], env_with_path(interpreters), tmp_path)
    assert what(target) == {
        "interpreter": str(interpreters / "python"), "kind": "module", "name": "pkg.mod",
        "argv": ("-m", "--port", "0"), "path0": str(tmp_path),
    }


@pytest.mark.parametrize("name", ["python3", "python3.11"])
def test_python_dash_m_with_a_versioned_interpreter_by_absolute_path(tmp_path: Path, name: str) -> None:
    (tmp_path / name).symlink_to(sys.executable)
    target = resolve([str(tmp_path / name), "-m", "tests.bridge.core.echo_server"], env_with_path(), None)
    assert (target.interpreter, target.kind, target.name) == (str(tmp_path / name), "module",
                                                              "tests.bridge.core.echo_server")
    assert target.path0 == os.getcwd()  # no --cwd: the bridge's own, as `python -m` would have it


def test_spec_sent_to_the_template_carries_the_preload_entries(tmp_path: Path) -> None:
    target = resolve([sys.executable, "-m", "pkg.mod", "a"], env_with_path(), tmp_path)
    spec = target.spec(["legacy_stdio.prefork:warm"])
    assert {k: spec[k] for k in ("kind", "name", "argv", "path0", "preload")} == {
        "kind": "module", "name": "pkg.mod", "argv": ["-m", "a"], "path0": str(tmp_path),
        "preload": ["legacy_stdio.prefork:warm"],
    }


# ----- refusals ----------------------------------------------------------------------------------


def test_shell_script_is_refused_naming_what_it_runs(tmp_path: Path) -> None:
    script = tmp_path / "start.sh"
    script.write_text("#!/bin/sh\nexec python -m server\n")
    script.chmod(0o755)
    with pytest.raises(ForkCommandError) as refused:
        resolve([str(script)], env_with_path(tmp_path), None)
    assert str(refused.value) == f"{script} is not a Python console script (it runs '/bin/sh')"


def test_env_bash_script_is_refused(tmp_path: Path) -> None:
    script = console_script(tmp_path, "#!/usr/bin/env bash\n", name="run")
    with pytest.raises(ForkCommandError, match=r"is not a Python console script \(it runs '/usr/bin/env bash'\)"):
        resolve([str(script)], {"PATH": os.defpath}, None)


def test_binary_is_refused_for_having_no_shebang() -> None:
    with pytest.raises(ForkCommandError) as refused:
        resolve(["true"], {"PATH": "/usr/bin:/bin"}, None)
    message = str(refused.value)
    assert message.endswith("is not a Python console script (no #! line)") and "true" in message


def test_python_running_a_script_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text("print('hi')\n")
    with pytest.raises(ForkCommandError) as refused:
        resolve([sys.executable, str(tmp_path / "server.py")], env_with_path(), None)
    message = str(refused.value)
    assert "server.py" in message and "forked only as `python -m MODULE [ARGS...]`" in message


def test_python_dash_m_without_a_module_is_refused() -> None:
    with pytest.raises(ForkCommandError, match=r"forked only as `python -m MODULE \[ARGS\.\.\.\]`"):
        resolve([sys.executable, "-m"], env_with_path(), None)


def test_command_not_on_the_childs_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ForkCommandError) as refused:
        resolve(["no-such-server-xyz", "--stdio"], env_with_path(tmp_path), None)
    assert str(refused.value) == "'no-such-server-xyz' is not found on the child's PATH"



def test_the_template_imports_the_standard_library_only() -> None:
    """It runs under the server's interpreter, which need not have the bridge or its dependencies."""
    source = Path(TEMPLATE).read_text(encoding="utf-8")
    roots = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert roots - {"__future__"} <= set(sys.stdlib_module_names), roots - set(sys.stdlib_module_names)
