"""Logging (text or JSON on stderr, every line tagged with its session) and the health answer."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal

from bridge import codec

LogFormat = Literal["text", "json"]

_session: contextvars.ContextVar[SessionTag | None] = contextvars.ContextVar("bridge_session", default=None)


class SessionTag:
    """What log lines say about their session; mutable so a Streamable id minted late still shows."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value


@contextlib.contextmanager
def session_context(tag: SessionTag) -> Iterator[None]:
    """Tag every log line of this task (and tasks it starts) with `tag`."""
    token = _session.set(tag)
    try:
        yield
    finally:
        _session.reset(token)


def current_session() -> str:
    tag = _session.get()
    return tag.value if tag is not None else "-"


class _SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.session = current_session()
        return True


# An access line (logger `bridge.access`): client, method, path, status, session id, duration (ms);
# in JSON each is also a field of its own.
ACCESS_LOGGER = "bridge.access"
ACCESS_FORMAT = "%s %s %s %d %s %.1fms"
ACCESS_FIELDS = ("client", "method", "path", "status", "session_id", "duration_ms")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "session": getattr(record, "session", "-"),
            "msg": record.getMessage(),
        }
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == len(ACCESS_FIELDS):
            entry.update(zip(ACCESS_FIELDS, record.args, strict=True))
            entry["session"] = entry["session_id"]
            entry["duration_ms"] = round(entry["duration_ms"], 1)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return codec.dumps(entry).decode()


def setup_logging(level: str, fmt: LogFormat) -> None:
    """Configure the root logger once: one stderr handler, the session filter, the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_SessionFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(session)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
