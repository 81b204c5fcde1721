"""`--baseline REF`: the bridge's source as it was at a git ref, to run beside the current tree.

`git archive REF src` is unpacked into a temporary directory (no worktree is registered, the
repository is not touched) and a bridge started with `PYTHONPATH=<dir>/src` imports that `bridge`
package instead of the editable install: same console script, same interpreter, same
dependencies, same child. Which package each bridge really imports is asked once per build
(`bridge_source`) and must be the expected one. The directory is removed when the run ends.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bench.bridge_proc import Unavailable, bridge_options, bridge_source
from bench.measure import progress

REPO = Path(__file__).resolve().parent.parent
SUFFIX = "@base"  # appended to a target's name and result column


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, timeout=60, check=False)


def resolve(ref: str) -> tuple[str, str]:
    """(full commit id, subject) of `ref`; ValueError when it names no commit."""
    done = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise ValueError(f"{ref!r} is not a commit of {REPO}")
    commit = done.stdout.decode().strip()
    subject = _git("log", "-1", "--format=%s", commit).stdout.decode(errors="replace").strip()
    return commit, subject


class Build:
    """One `bridge` package that bridges are started from: the current tree, or a baseline's copy.

    `env` is added to a bridge's environment; `expected` (when set) is the directory its `bridge`
    package must come from. `check()` asks `bridge run --help` and the import once, then remembers.
    """

    def __init__(
        self,
        title: str,
        env: Mapping[str, str] | None = None,
        expected: Path | None = None,
        commit: str | None = None,
        subject: str | None = None,
    ) -> None:
        self.title = title
        self.commit = commit
        self.subject = subject
        self.env: dict[str, str] = dict(env or {})
        self.expected = expected
        self.flags: set[str] | None = None
        self.source: Path | None = None
        self.problem: Unavailable | None = None
        self.checked = False

    def check(self) -> set[str] | None:
        """The options of `bridge run --help` (None: no help printed, options unknown)."""
        if self.problem is not None:
            raise self.problem
        if not self.checked:
            try:
                self.source = bridge_source(self.env)
                if self.expected is not None and self.source != self.expected.resolve():
                    raise Unavailable(f"imports `bridge` from {self.source}, not from {self.expected}")
                self.flags = bridge_options(self.env)
            except Unavailable as exc:
                self.problem = exc
                raise
            self.checked = True
            progress(f"bridge, {self.title}: runs from {self.source}")
            if self.flags is None:
                progress(
                    f"`bridge run --help` ({self.title}) printed no help; options unknown, trying anyway"
                )
        return self.flags

    def require(self, options: Sequence[str]) -> None:
        """Unavailable when `bridge run --help` is known and lacks one of these long options."""
        flags = self.check()
        wanted = [o.split("=", 1)[0] for o in options if o.startswith("--")]
        if missing := [o for o in wanted if flags is not None and o not in flags]:
            raise Unavailable(f"`bridge run` ({self.title}) has no {', '.join(missing)} option")


@contextlib.contextmanager
def extracted(ref: str) -> Iterator[Build]:
    """The bridge as it was at `ref`, unpacked into a temporary directory removed on exit."""
    commit, subject = resolve(ref)
    title = f"baseline {commit[:10]}" if commit.startswith(ref) else f"baseline {ref} ({commit[:10]})"
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        done = _git("archive", "--format=tar", commit, "src")
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise Unavailable(f"`git archive {commit[:10]} src` failed: {reason}")
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            archive.extractall(tmp, filter="data")
        src = Path(tmp) / "src"
        if not (src / "bridge" / "__init__.py").is_file():
            raise Unavailable(f"{commit[:10]} has no src/bridge package")
        path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
        progress(f"{title}: {subject[:90]!r}, unpacked into {tmp}")
        yield Build(title, {"PYTHONPATH": path}, src / "bridge", commit, subject)
    progress(f"{title}: {tmp} removed")
