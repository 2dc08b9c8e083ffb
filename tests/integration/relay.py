"""A relay in front of a function for failure tests: answers 503 to the first N requests, and can
delay every request, forwarding the rest to the real function unchanged."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler

from tests.integration.local_http import LocalHttpServer


class Relay(LocalHttpServer):
    def __init__(self, target: str, fail_first: int = 0, delay: float = 0.0) -> None:
        self.target = target
        self.fail_first = fail_first
        self.delay = delay
        self.requests = 0
        self.subjects: list[str] = []
        """The `ce-subject` (order id) of every binary-mode request, in order of arrival."""
        self._lock = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with relay._lock:
                    relay.requests += 1
                    relay.subjects.append(self.headers.get("ce-subject", ""))
                    fail = relay.requests <= relay.fail_first
                time.sleep(relay.delay)
                if fail:
                    self._answer(503, {"Content-Type": "application/json"}, b'{"error":"relay"}')
                    return
                request = urllib.request.Request(
                    relay.target, data=body, headers=dict(self.headers), method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._answer(response.status, dict(response.headers), response.read())
                except urllib.error.HTTPError as error:
                    self._answer(error.code, dict(error.headers), error.read())

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(Handler)
