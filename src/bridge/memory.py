"""Giving freed memory back to the system.

glibc's allocator keeps what Python frees in its heap for reuse: after 200 sessions that carried
600 MiB of results had all ended, the bridge still held 170 MiB of such free memory (measured),
which only `malloc_trim` returns. So, when results have moved through the bridge since the last
time, it trims the heap every `INTERVAL` seconds. Elsewhere (musl, macOS) there is nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import time
from collections.abc import Callable

import anyio

from bridge.metrics import Traffic

log = logging.getLogger("bridge.memory")

INTERVAL = 10.0  # seconds between looks
THRESHOLD = 32 * 1024 * 1024  # bytes pumped since the last trim that make one worth it


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


async def trim_heap_while_running(traffic: Traffic) -> None:
    """Every `INTERVAL` s, trim the heap if `THRESHOLD` bytes were pumped since the last trim."""
    trim = _malloc_trim()
    if trim is None:
        return
    trimmed_at = 0
    while True:
        await anyio.sleep(INTERVAL)
        moved = traffic.bytes_in + traffic.bytes_out
        if moved - trimmed_at >= THRESHOLD:
            trimmed_at = moved
            started = time.perf_counter()
            trim(0)
            log.debug("heap trimmed in %.1f ms", (time.perf_counter() - started) * 1e3)
