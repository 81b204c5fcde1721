"""The bridge's side of `--fork-server`: the template process, its restarts, and forking a child.

A spawn asks the template for a fork over its control socket (one at a time; each is a few
milliseconds of the template's time) and gets the new process's pid; from then on the child is
the bridge's own, waited for on a pidfd and ended by its process group like a started one. While
the template is down (crashed, killed, still restarting with backoff, or too slow to answer) a
spawn returns None and the caller starts the child by exec instead: a session never waits for the
template to come back.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from bridge.fork.command import ForkTarget
from bridge.metrics import BridgeMetrics
from bridge.process import (
    Exit,
    PipedProcess,
    PipeReader,
    become_subreaper,
    child_pipes,
    connect_pipes,
    reap_orphans,
)

log = logging.getLogger("bridge.fork")

TEMPLATE = str(Path(__file__).with_name("template.py"))
# Run by the server's interpreter, which need not be able to import the bridge: the template file
# is compiled under its own name, so its tracebacks and `ps` stay readable.
BOOT = "import sys; path = sys.argv[1]; exec(compile(open(path, 'rb').read(), path, 'exec'))"
START_TIMEOUT = 60.0  # seconds the template may take to import the server
SPAWN_TIMEOUT = 5.0  # seconds one fork may take before the template is taken for broken
MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
ORPHAN_SWEEP = 2.0  # seconds between sweeps for exited orphans (re-parented to the bridge)
STDERR_TAIL = 20


class ForkServerError(RuntimeError):
    """The template could not start: the server cannot be imported, or it cannot be forked."""


class ForkServer:
    """One template that imported the server, kept running; `spawn` forks a session's child from it."""

    def __init__(
        self, target: ForkTarget, env: Mapping[str, str], cwd: Path | None, preload: Sequence[str],
        kill_grace: float, metrics: BridgeMetrics,
    ) -> None:
        self.target = target
        self._env = dict(env)
        self._cwd = cwd
        self._preload = tuple(preload)
        self._kill_grace = kill_grace
        self._metrics = metrics
        self._control: socket.socket | None = None
        self._exit: Exit | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self._lock = anyio.Lock()
        self._broken = anyio.Event()
        self.up = False

    @property
    def mode(self) -> str:
        """How the next child starts: `fork`, or `exec` while the template is down."""
        return "fork" if self.up else "exec"

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start the template (`ForkServerError` if it cannot), then keep it running until cancelled:
        a template that exits is restarted with backoff. At the end the template is stopped."""
        if not become_subreaper():
            raise ForkServerError("--fork-server needs Linux PR_SET_CHILD_SUBREAPER (prctl), which failed here")
        try:
            async with anyio.create_task_group() as tg:
                await self._start(tg)
                tg.start_soon(self._sweep_orphans)
                task_status.started()
                backoff = MIN_BACKOFF
                while True:
                    code = await self._watch()
                    self._metrics.fork_server_restarts.inc()
                    log.error("fork server: template exited (code %s; stderr: %s); children start by exec until "
                              "it is back", code, " | ".join(self._stderr_tail) or "empty")
                    while True:
                        await anyio.sleep(backoff)
                        backoff = min(backoff * 2, MAX_BACKOFF)
                        try:
                            await self._start(tg)
                        except ForkServerError as exc:
                            log.error("fork server: restart failed: %s (next try in %gs)", exc, backoff)
                            continue
                        log.info("fork server: template back; children are forked again")
                        backoff = MIN_BACKOFF
                        break
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop()

    async def spawn(self, env: Mapping[str, str], cwd: Path | None) -> PipedProcess | None:
        """A child forked for a session, or None when the template cannot fork now (start by exec)."""
        async with self._lock:
            control = self._control
            if not self.up or control is None:
                self._metrics.fork_fallbacks.inc()
                return None
            theirs, ours = child_pipes()
            try:
                try:
                    with anyio.fail_after(SPAWN_TIMEOUT):
                        await _send(control, {"env": dict(env), "cwd": str(cwd) if cwd else None}, theirs)
                        reply = await _receive(control)
                finally:
                    for fd in theirs:
                        os.close(fd)
                pid = reply.get("pid")
                if not isinstance(pid, int):
                    raise ForkServerError(str(reply.get("error", reply)))
                exit = Exit(pid)  # counted as ours before anything can yield to the orphan sweep
            except (OSError, ValueError, TimeoutError, ForkServerError, EOFError) as exc:
                for fd in ours:
                    os.close(fd)
                why = f"no answer within {SPAWN_TIMEOUT:g}s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                log.error("fork server: fork failed (%s); starting the child by exec", why)
                self._metrics.fork_fallbacks.inc()
                self._set_broken()
                return None
        try:
            pipes = await connect_pipes(*ours)
        except BaseException:
            os.killpg(pid, signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await exit.wait()
            raise
        self._metrics.children_forked.inc()
        return PipedProcess(exit, *pipes)

    async def _start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start a template and wait for it to have imported the server."""
        popen, ours, err_read = _start_template(self.target, self._preload, self._env, self._cwd)
        self._exit = Exit(popen.pid, popen)
        self._stderr_tail.clear()
        stderr = await PipeReader.connect(err_read)
        tg.start_soon(self._log_stderr, stderr)
        try:
            with anyio.fail_after(START_TIMEOUT):
                reply = await _receive(ours)
        except (OSError, ValueError, TimeoutError, EOFError) as exc:
            reply = {"error": f"no answer ({type(exc).__name__})"}
        if not reply.get("ready"):
            ours.close()
            await self._end_template()
            tail = " | ".join(self._stderr_tail)
            raise ForkServerError(f"{reply.get('error', reply)}{'; stderr: ' + tail if tail else ''}")
        self._control = ours
        self._broken = anyio.Event()
        self.up = True
        self._metrics.fork_server_up.set(1)
        log.info("fork server: template pid %d imported %s %s; children are forked from it",
                 popen.pid, self.target.kind, self.target.name)

    async def _watch(self) -> int:
        """Until the template exits (or is found broken and ended): its exit code."""
        assert self._exit is not None
        exit = self._exit
        async with anyio.create_task_group() as tg:
            async def broken() -> None:
                await self._broken.wait()
                await self._end_template()
                tg.cancel_scope.cancel()

            tg.start_soon(broken)
            await exit.wait()
            tg.cancel_scope.cancel()
        self._down()
        return exit.returncode if exit.returncode is not None else -1

    def _set_broken(self) -> None:
        self._down()
        self._broken.set()

    def _down(self) -> None:
        self.up = False
        self._metrics.fork_server_up.set(0)
        if self._control is not None:
            self._control.close()
            self._control = None

    async def _stop(self) -> None:
        """End the template: its control socket closed (it exits at once), then its group signalled."""
        self._down()
        await self._end_template()

    async def _end_template(self) -> None:
        exit = self._exit
        if exit is None or exit.returncode is not None:
            return
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(exit.pid, sig)
            with anyio.move_on_after(self._kill_grace if sig != signal.SIGKILL else 10):
                await exit.wait()
                return

    async def _log_stderr(self, stderr: PipeReader) -> None:
        pending = b""
        try:
            while True:
                try:
                    chunk = await stderr.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    self._stderr_line(raw)
            self._stderr_line(pending)
        finally:
            await stderr.aclose()

    def _stderr_line(self, raw: bytes) -> None:
        text = raw[:4096].decode("utf-8", "replace").rstrip()
        if text:
            self._stderr_tail.append(text)
            log.info("fork template stderr: %s", text)

    async def _sweep_orphans(self) -> None:
        """Reap exited processes re-parented to the bridge that nothing waits for (a middle process
        whose template died mid-fork, a session's grandchild that outlived its group)."""
        while True:
            await anyio.sleep(ORPHAN_SWEEP)
            if not self._lock.locked():  # mid-fork, a new child is ours before its pid is known
                reap_orphans()


def _start_template(
    target: ForkTarget, preload: Sequence[str], env: Mapping[str, str], cwd: Path | None
) -> tuple[subprocess.Popen[bytes], socket.socket, int]:
    """The started template, the bridge's end of its control socket (its fd 0) and its stderr pipe."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    err_read, err_write = os.pipe()
    try:
        popen = subprocess.Popen(
            [target.interpreter, "-c", BOOT, TEMPLATE, "--", *target.argv], stdin=theirs.fileno(),
            stdout=subprocess.DEVNULL, stderr=err_write, env=dict(env), cwd=cwd, start_new_session=True,
        )
    except OSError as exc:
        ours.close()
        os.close(err_read)
        raise ForkServerError(f"{target.interpreter}: {exc.strerror}") from None
    finally:
        theirs.close()
        os.close(err_write)
    ours.send(json.dumps(target.spec(preload)).encode())  # an empty socket buffer takes it at once
    ours.setblocking(False)
    return popen, ours, err_read


async def _send(control: socket.socket, message: dict[str, Any], fds: Sequence[int]) -> None:
    data = json.dumps(message).encode()
    while True:
        try:
            socket.send_fds(control, [data], list(fds))
            return
        except BlockingIOError:
            await anyio.wait_writable(control)


async def _receive(control: socket.socket) -> dict[str, Any]:
    while True:
        try:
            data = control.recv(1 << 16)
        except BlockingIOError:
            await anyio.wait_readable(control)
            continue
        if not data:
            raise EOFError("the template closed its control socket")
        message = json.loads(data)
        if not isinstance(message, dict):
            raise ValueError("not a JSON object")
        return message
