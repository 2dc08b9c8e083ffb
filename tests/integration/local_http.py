"""An HTTP server in this process, on a free loopback port, serving from a thread of its own:
what the test doubles (a relay in front of a function, a subscriber) are built on."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from checkout_devenv.processes import Service
from tests.waiting import eventually


class Handler(BaseHTTPRequestHandler):
    """A test double's request handler: reads the body whole, answers with a length, and keeps
    quiet (the test says what went wrong)."""

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class LocalHttpServer(Service):
    """Serves `handler` at `url` between start() and stop() (or inside `with`)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def answered(url: str) -> bytes | None:
    """The body of a 200 from `url`; None for any other answer or none."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: bytes = response.read()
            return body if response.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None


def wait_answered(
    url: str, alive: Callable[[], bool], logs: Callable[[], str], timeout: float = 60
) -> bytes:
    """The body of the first 200 from `url`, served by something that must stay `alive` (a
    container, a process) meanwhile; fails with its `logs` otherwise."""

    def answer() -> bytes | None:
        assert alive(), f"stopped before {url} answered:\n{logs()}"
        return answered(url)

    body = eventually(
        answer,
        f"{url} to answer 200",
        until=lambda got: got is not None,
        timeout=timeout,
        logs=logs,
    )
    assert body is not None
    return body
