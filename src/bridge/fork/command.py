"""Which Python program a child command runs, so a template can import it: a console script (its
interpreter from the shebang, its entry point by name) or `python -m MODULE`."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PYTHON = re.compile(r"python(\d+(\.\d+)?)?")
# pip writes `#!/bin/sh` and this second line when the interpreter's path is too long for a shebang
SH_EXEC = re.compile(rb"'''exec' (?:\"(?P<dq>[^\"]+)\"|'(?P<sq>[^']+)'|(?P<bare>\S+)) \"\$0\" \"\$@\"")


class ForkCommandError(ValueError):
    """The child command is not a Python program a template can import."""


@dataclass(frozen=True, slots=True)
class ForkTarget:
    """What the template runs: `interpreter`, then the console script `name` (kind `console`) or the
    module `name` (kind `module`); `argv` and `path0` as the started program would have them."""

    interpreter: str
    kind: str
    name: str
    argv: tuple[str, ...]
    path0: str
    comm: str  # the process name the kernel would give the exec'd program

    def spec(self, preload: Sequence[str]) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "argv": list(self.argv), "path0": self.path0,
                "comm": self.comm, "preload": list(preload)}


def resolve(command: Sequence[str], env: Mapping[str, str], cwd: Path | None) -> ForkTarget:
    """The template's target for `command` run with `env` in `cwd`; `ForkCommandError` saying why not."""
    program = shutil.which(command[0], path=env.get("PATH", os.defpath))
    if program is None:
        raise ForkCommandError(f"{command[0]!r} is not found on the child's PATH")
    program = os.path.abspath(program)
    if PYTHON.fullmatch(os.path.basename(command[0])):
        if len(command) < 3 or command[1] != "-m":
            raise ForkCommandError(f"{' '.join(command[:3])!r}: a Python interpreter is forked only as "
                                   "`python -m MODULE [ARGS...]`")
        base = os.path.abspath(cwd) if cwd is not None else os.getcwd()
        return ForkTarget(program, "module", command[2], ("-m", *command[3:]), base,
                          os.path.basename(program)[:15])
    interpreter = _shebang_python(program, env)
    return ForkTarget(interpreter, "console", os.path.basename(program), (program, *command[1:]),
                      os.path.dirname(os.path.realpath(program)), os.path.basename(program)[:15])


def _shebang_python(program: str, env: Mapping[str, str]) -> str:
    """The Python interpreter a script's first line names; `ForkCommandError` for anything else."""
    try:
        with open(program, "rb") as script:
            head = script.read(4096)
    except OSError as exc:
        raise ForkCommandError(f"{program}: cannot be read: {exc.strerror}") from None
    lines = head.split(b"\n")
    if not lines[0].startswith(b"#!"):
        raise ForkCommandError(f"{program} is not a Python console script (no #! line)")
    words = lines[0][2:].decode("utf-8", "replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(words[0], path=env.get("PATH", os.defpath)) if words else None
        words = [found] if found else []
    elif words and words[0] == "/bin/sh" and len(lines) > 1 and (match := SH_EXEC.match(lines[1])):
        words = [(match["dq"] or match["sq"] or match["bare"]).decode()]
    if not words or not PYTHON.fullmatch(os.path.basename(words[0])):
        raise ForkCommandError(f"{program} is not a Python console script (it runs {lines[0][2:].decode(errors='replace').strip()!r})")
    return words[0]
