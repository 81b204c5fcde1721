"""`--fork-server`: children of a Python stdio server forked from a template that imported it once.

    command.py    which Python program a child command runs (console script or `python -m`)
    template.py   the template process itself (standard library only; runs under the server's Python)
    server.py     the bridge's side: the template's start, restarts with backoff, a fork per spawn
"""

from bridge.fork.command import ForkCommandError, ForkTarget, resolve
from bridge.fork.server import ForkServer, ForkServerError

__all__ = ["ForkCommandError", "ForkServer", "ForkServerError", "ForkTarget", "resolve"]
