"""The template process of `--fork-server`: imports a Python stdio server once, then forks sessions.

This file runs under the server's own interpreter (compiled by `python -c`, its path and the
server's command as arguments, for `ps` to show), not the bridge's, so it uses the standard library only and imports nothing of the
bridge. Its protocol with the bridge, over the `SOCK_SEQPACKET` socket it has as fd 0, one JSON object per message:

    bridge -> template   the spec: what to import and how to run it (see `bridge.fork.command`)
    template -> bridge   {"ready": true, "pid": N}          or {"error": "..."} (then it exits)
    bridge -> template   {"env": {...}, "cwd": "..."|null}  with the child's three pipe ends
                                                             (stdin, stdout, stderr) as SCM_RIGHTS
    template -> bridge   {"pid": N}                         or {"error": "..."}

Each child is forked twice: the middle process forks the session's process and exits at once, so
the session's process is re-parented to the bridge (a subreaper), which waits for it, reads its
exit status and signals its group as it does for any child it started itself. The session's
process then leaves this file's loop and runs the server's entry point as the program it is.

Configuration read when the server's module is imported would be the template's, which is started
with a sanitised environment; a server run this way reads its configuration when `main` runs.
"""

from __future__ import annotations

import ast
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import sys
from typing import Any

MAX_MESSAGE = 1 << 20
# The signals whose disposition a fresh interpreter would have: taken at start, before anything
# could change them, and given back to every session's process.
SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGPIPE",
                                              "SIGCHLD", "SIGUSR1", "SIGUSR2", "SIGXFSZ", "SIGALRM")
           if hasattr(signal, name)]
FRESH = {sig: signal.getsignal(sig) for sig in SIGNALS}


def main() -> None:
    control = socket.socket(fileno=0)
    _die_with_parent()
    _set_name(b"fork-template")
    spec: dict[str, Any] = json.loads(control.recv(MAX_MESSAGE))
    sys.path[0] = spec["path0"]  # what `python SCRIPT` or `python -m MODULE` would have put first
    try:
        run = _load(spec)
        _warm(spec.get("preload", ()))
    except BaseException as exc:  # reported to the bridge, whatever it was
        _send(control, {"error": f"importing the server failed: {type(exc).__name__}: {exc}"})
        sys.exit(3)
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        _send(control, {"error": f"importing the server started {threads - 1} thread(s); forking it is unsafe"})
        sys.exit(3)
    sys.stdout.flush()
    sys.stderr.flush()
    gc.collect()
    gc.freeze()  # the imported objects stay out of every child's collections: their pages stay shared
    _send(control, {"ready": True, "pid": os.getpid()})
    request, fds = _serve(control)
    _become_session(control, request, fds, spec["argv"])
    _set_name(spec["comm"].encode())
    run()


def _load(spec: dict[str, Any]) -> Any:
    """Import the server and return what runs it, as its console script or `python -m` would."""
    if spec["kind"] == "module":
        name = spec["name"]
        _import_top_level_imports(name)

        def run_module() -> None:
            import runpy
            runner = getattr(runpy, "_run_module_as_main", None)  # what `python -m` itself calls
            if runner is not None:
                runner(name, alter_argv=True)
            else:
                runpy.run_module(name, run_name="__main__", alter_sys=True)

        return run_module
    found = [ep for ep in importlib.metadata.entry_points(group="console_scripts") if ep.name == spec["name"]]
    if not found:
        raise LookupError(f"no console_scripts entry point named {spec['name']!r} in {sys.prefix}")
    entry = found[0].load()

    def run_entry_point() -> None:
        sys.exit(entry())  # the body of the console script pip writes

    return run_entry_point


# What the stack under most Python MCP servers imports on first use rather than at import: done
# once here, it is shared by every child instead of being each child's first milliseconds.
LAZY = {"anyio": ("anyio._backends._asyncio",), "httpx": ("httpcore", "h11", "certifi")}


def _warm(preload: list[str]) -> None:
    """Import the lazily imported modules of libraries already imported (best effort), then each
    `--fork-preload` entry: `module`, or `module:function` to also call `function()` once here."""
    for library, modules in LAZY.items():
        if library in sys.modules:
            for module in modules:
                try:
                    importlib.import_module(module)
                except Exception:  # not installed in this version: each child does without it too
                    continue
    for entry in preload:
        name, _, function = entry.partition(":")
        imported = importlib.import_module(name)
        if function:
            getattr(imported, function)()


def _import_top_level_imports(name: str) -> None:
    """Import what the module run as `__main__` imports first, without running it: its parent
    packages and the absolute imports at its top level (each best effort)."""
    parts = name.split(".")
    for i in range(1, len(parts)):
        importlib.import_module(".".join(parts[:i]))
    found = importlib.util.find_spec(name)
    if found is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    if found.submodule_search_locations is not None:  # a package: `python -m` runs its __main__
        importlib.import_module(name)
        found = importlib.util.find_spec(name + ".__main__")
    if found is None or found.origin is None or not found.origin.endswith(".py"):
        return
    with open(found.origin, "rb") as source:
        tree = ast.parse(source.read())
    package = found.parent or ""
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [importlib.util.resolve_name("." * node.level + node.module, package) if node.level
                     else node.module]
        for module in names:
            try:
                importlib.import_module(module)
            except Exception:  # the child imports it again and reports its own error
                continue


def _serve(control: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """Fork a process per request until the bridge goes away; returns only in a session's process."""
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, MAX_MESSAGE, 3)
        except InterruptedError:
            continue
        if not data:
            os._exit(0)  # the bridge closed its end: it is gone or shutting down
        try:
            request = json.loads(data)
            if len(fds) != 3:
                raise ValueError(f"expected 3 pipe ends, got {len(fds)}")
            pid = _fork_twice()
        except Exception as exc:  # one failed request never ends the template
            for fd in fds:
                os.close(fd)
            _send(control, {"error": f"{type(exc).__name__}: {exc}"})
            continue
        if pid == 0:
            return request, fds
        for fd in fds:
            os.close(fd)
        _send(control, {"pid": pid})


def _fork_twice() -> int:
    """0 in the session's process; in the template, its pid once its first parent has exited."""
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(read_end)
        try:
            pid = os.fork()
        except BaseException:
            os._exit(1)
        if pid == 0:
            os.close(write_end)
            return 0
        os.write(write_end, str(pid).encode())
        os._exit(0)
    os.close(write_end)
    try:
        data = b""
        while chunk := os.read(read_end, 32):
            data += chunk
    finally:
        os.close(read_end)
        os.waitpid(middle, 0)  # its child belongs to the bridge from here on
    if not data:
        raise OSError("the session's process could not be forked")
    return int(data)


def _become_session(control: socket.socket, request: dict[str, Any], fds: list[int], argv: list[str]) -> None:
    """Turn a fresh fork into the session's program: own session and group, the session's pipes
    on 0/1/2, the signals and environment a started program has, its argv and working directory."""
    os.setsid()
    control.detach()  # fd 0 is about to become the session's stdin; no object may close it later
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    for sig, handler in FRESH.items():
        if handler is not None:
            signal.signal(sig, handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd"):
        os.chdir(request["cwd"])
    sys.argv = list(argv)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _set_name(name: bytes) -> None:
    """The process name `ps`, `top` and `pgrep` show (Linux `PR_SET_NAME`; 15 bytes): the template's
    own, and each session's process the name an exec'd server would have had."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _die_with_parent() -> None:
    """SIGKILL this template when the bridge dies (Linux `PR_SET_PDEATHSIG`); a fork clears it, so
    no session's process inherits it."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(0)


if __name__ == "__main__":
    main()
