"""A `bridge connect` process: logging on stderr, the HTTP client, stdio, signals, the relay.

The exit code: 0 when stdin ends (or on SIGTERM / SIGINT; the remote session is ended first), 1
when the remote could not be reached or used before the first initialize was answered. Whatever
happens, stderr gets lines, never a traceback (unless `--log-level debug`).
"""

from __future__ import annotations

import logging
import signal
import sys

import anyio

from bridge.connect.client import http_client
from bridge.connect.options import Validated
from bridge.connect.relay import Relay
from bridge.connect.stdio import StdinLines, StdoutLines

log = logging.getLogger("bridge.connect")

EXIT_OK = 0
EXIT_REMOTE = 1
EXIT_USAGE = 2
OUTPUT_GRACE = 2.0
"""Seconds the last messages may take to reach stdout at exit."""


class _Line(logging.Formatter):
    """`bridge connect: <level>: <message>`; a traceback only when debugging."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        line = f"bridge connect: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and self.debug:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str) -> None:
    debug = level == "debug"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Line(debug))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):  # a line per request: only when debugging
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


def run(validated: Validated) -> int:
    setup_logging(validated.options.log_level)
    try:
        return anyio.run(_main, validated)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        log.error("internal error: %r", exc, exc_info=True)
        return EXIT_REMOTE


async def _main(validated: Validated) -> int:
    async with http_client(validated) as http:
        relay: Relay | None = None

        def client_gone() -> None:
            log.info("stdout is closed: the client is gone")
            if relay is not None:
                relay.stop()

        stdout = StdoutLines(sys.stdout.fileno(), client_gone)
        relay = Relay(http, validated.options, stdout)
        stdin = StdinLines(sys.stdin.fileno())
        stdout.start()
        stdin.start()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_on_signals, relay)
            code = await relay.run(stdin)
            tg.cancel_scope.cancel()
        await stdout.close(OUTPUT_GRACE)
    return code


async def _on_signals(relay: Relay) -> None:
    """SIGTERM, SIGINT and SIGHUP end the relay as stdin's end does (where the platform has them)."""
    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)]
    try:
        with anyio.open_signal_receiver(*wanted) as signals:
            async for received in signals:
                log.info("%s: ending the remote session", signal.Signals(received).name)
                relay.stop()
    except NotImplementedError:  # no signal receivers here (Windows): stdin's end still ends us
        return
