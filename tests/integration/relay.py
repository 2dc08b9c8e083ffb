"""A relay in front of a function for failure tests: answers 503 to the first N requests, can
delay every request, and can make the first M requests slow (held before they are forwarded, or
held with the function's answer), forwarding the rest to the real function unchanged."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from tests.integration.local_http import Handler, LocalHttpServer


@dataclass(frozen=True)
class Answer:
    """What the function answered to one forwarded request."""

    status: int
    headers: dict[str, str]
    body: bytes


class Relay(LocalHttpServer):
    def __init__(
        self,
        target: str,
        fail_first: int = 0,
        delay: float = 0.0,
        slow_first: int = 0,
        slow_delay: float = 0.0,
        slow_answer: bool = False,
    ) -> None:
        self.target = target
        self.fail_first = fail_first
        self.delay = delay
        self.slow_first = slow_first
        """How many of the first requests take `slow_delay` more seconds."""
        self.slow_delay = slow_delay
        self.slow_answer = slow_answer
        """Where a slow request waits: False, before it is forwarded (the function sees it
        late); True, after the function answered (the work is done, the answer comes late)."""
        self.requests = 0
        self.subjects: list[str] = []
        """The `ce-subject` (order id) of every binary-mode request, in order of arrival."""
        self.answers: list[Answer] = []
        """The function's answer to every forwarded request, in the order the function gave them
        (whether or not the caller was still there to read it)."""
        self._busy = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        relay = self

        class Forward(Handler):
            def do_POST(self) -> None:
                body = self.body()
                with relay._lock:
                    relay.requests += 1
                    relay._busy += 1
                    relay.subjects.append(self.headers.get("ce-subject", ""))
                    fail = relay.requests <= relay.fail_first
                    slow = relay.slow_delay if relay.requests <= relay.slow_first else 0.0
                try:
                    self._relay(body, fail, slow)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller stopped waiting (its timeout): nobody reads this answer
                finally:
                    with relay._idle:
                        relay._busy -= 1
                        relay._idle.notify_all()

            def _relay(self, body: bytes, fail: bool, slow: float) -> None:
                time.sleep(relay.delay + (0.0 if relay.slow_answer else slow))
                if fail:
                    self.answer(503, {"Content-Type": "application/json"}, b'{"error":"relay"}')
                    return
                request = urllib.request.Request(
                    relay.target, data=body, headers=dict(self.headers), method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        answer = Answer(response.status, dict(response.headers), response.read())
                except urllib.error.HTTPError as error:
                    answer = Answer(error.code, dict(error.headers), error.read())
                with relay._lock:
                    relay.answers.append(answer)
                time.sleep(slow if relay.slow_answer else 0.0)
                self.answer(answer.status, answer.headers, answer.body)

        super().__init__(Forward)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Return once no request is in the relay any more: every slow one has been forwarded
        and answered, so what the function did for it has happened."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._busy == 0, timeout):
                raise AssertionError(f"{self._busy} requests still in the relay after {timeout}s")
