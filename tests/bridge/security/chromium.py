"""A real headless Chromium for the browser tests, driven over the DevTools protocol, and a small
page server on another 127.0.0.1 port (another origin than the bridge's).

Chromium runs in its own process group with a throw-away profile and is ended group-wide when its
block exits; every DevTools call and every page script is bounded in time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.procs import end_group

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio", "--password-store=basic")


def chromium_binary() -> str:
    found = shutil.which("chromium") or next(
        (p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if Path(p).exists()), None)
    if found is None:
        pytest.fail("Chromium is not installed: install the Debian package chromium "
                    "(apt-get install chromium, as .ci/run does)", pytrace=False)
    return found


class DevTools:
    """One DevTools websocket: calls answered in order, events ignored."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    def call(self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        id_ = next(self._ids)
        message: dict[str, Any] = {"id": id_, "method": method, "params": dict(params or {})}
        if session is not None:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"DevTools {method} gave no answer within {timeout}s")
            answer = json.loads(self._ws.recv(timeout=remaining))
            if answer.get("id") != id_:
                continue  # an event, or a session's message we do not wait for
            if "error" in answer:
                raise RuntimeError(f"DevTools {method}: {answer['error']}")
            result: dict[str, Any] = answer["result"]
            return result


class Page:
    """A tab of the browser."""

    def __init__(self, devtools: DevTools) -> None:
        self.devtools = devtools
        target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of `expression` in the page (a promise is awaited); a page exception fails the test."""
        result = self.devtools.call("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
        }, self.session, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise AssertionError(f"the page script failed: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    def goto(self, url: str, ready: str = "document.readyState === 'complete'", timeout: float = 20.0) -> None:
        """Navigate, then wait until the new document is there and `ready` holds in it."""
        self.devtools.call("Page.navigate", {"url": url}, self.session)
        deadline = time.monotonic() + timeout
        check = f"location.href === {json.dumps(url)} && ({ready})"
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError, RuntimeError):  # the old document, or none yet
                if self.evaluate(check, timeout=5) is True:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{url} was not ready within {timeout}s")


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[DevTools]:
    """Headless Chromium with a fresh profile; yields its browser-wide DevTools connection."""
    profile.mkdir(parents=True, exist_ok=True)
    argv = [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"]
    with open(profile.parent / "chromium.log", "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not open DevTools (exit code {proc.poll()}); "
                                   f"see {profile.parent / 'chromium.log'}")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=15, close_timeout=2) as ws:
            yield DevTools(ws)
    finally:
        end_group(proc)


@contextlib.contextmanager
def page_server(pages: Mapping[str, str]) -> Iterator[str]:
    """Serves `pages` (path -> HTML) on a free 127.0.0.1 port; yields its origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.partition("?")[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
