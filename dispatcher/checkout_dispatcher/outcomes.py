"""What one delivery attempt's result means and what becomes of the event next: acknowledged,
brought back by the broker after a backoff, or given up and dead-lettered. Pure."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkout_core.triggers import Delivery

ERROR_DATA_MAX = 1024
"""Bytes of a subscriber's error body kept in a dead letter: enough to read the error, not
enough to copy a whole page into the dead-letter stream."""

RETRIED_4XX = frozenset({404, 408, 409, 429})
"""4xx answers worth another attempt, as Knative's dispatcher retries them: a subscriber that
is still starting (404), a timeout or conflict on its side, throttling. Every other 4xx (400
above all: "I cannot accept this event") means the same event would be refused again."""


@dataclass(frozen=True)
class Attempt:
    """What came back from one HTTP delivery."""

    status: int = 0
    """The HTTP status; 0 when no answer came (timeout, connection refused or reset)."""
    body: bytes = b""
    """The answer's body."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The answer's headers (a reply's `ce-` attributes and Content-Type)."""
    error: str = ""
    """Why there was no answer, or why a 2xx answer cannot be used (a malformed reply)."""


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    """2xx: the subscriber has the event."""
    TRANSIENT = "transient"
    """No answer, 5xx, or a 4xx worth retrying: another attempt may succeed."""
    PERMANENT = "permanent"
    """Any other answer, or a 2xx with an unreadable reply: retrying cannot help."""


def classify(attempt: Attempt) -> Outcome:
    if attempt.status == 0:
        return Outcome.TRANSIENT
    if 200 <= attempt.status < 300:
        return Outcome.PERMANENT if attempt.error else Outcome.DELIVERED
    if attempt.status >= 500 or attempt.status in RETRIED_4XX:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


@dataclass(frozen=True)
class Acknowledge:
    """Done with the event: acknowledge it once its reply is published."""


@dataclass(frozen=True)
class Retry:
    """Hand the event back to the broker, to come again after `delay` seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """No more attempts: dead-letter the event, publish the failed event, then acknowledge."""

    reason: str
    """A sentence for the failed event and the log: what failed, after how many attempts."""


Decision = Acknowledge | Retry | GiveUp


def decide(attempt: Attempt, number: int, delivery: Delivery, destination: str) -> Decision:
    """What to do after attempt `number` (1-based: the broker's delivery count) to deliver to
    `destination`. The count comes from the broker, not from this process, so a replica that
    takes over an event mid-retries goes on counting where the last one stopped."""
    outcome = classify(attempt)
    if outcome is Outcome.DELIVERED:
        return Acknowledge()
    if outcome is Outcome.TRANSIENT and number < delivery.attempts:
        return Retry(delivery.backoff(number))
    if outcome is Outcome.PERMANENT:
        return GiveUp(f"delivery to {destination} was refused: {summary(attempt)}")
    plural = "attempt" if number == 1 else "attempts"
    return GiveUp(f"delivery to {destination} failed after {number} {plural}: {summary(attempt)}")


def summary(attempt: Attempt) -> str:
    """One line: the status and the start of the body, or the error."""
    if attempt.status == 0:
        return attempt.error or "no answer"
    text = f"HTTP {attempt.status}"
    if attempt.error:
        return f"{text}: {attempt.error}"
    body = attempt.body[:200].decode("utf-8", errors="replace").strip()
    return f"{text}: {body}" if body else text


def error_data(attempt: Attempt) -> bytes:
    """What `knativeerrordata` holds (before base64): the subscriber's answer when it gave one,
    else the error."""
    if attempt.body and not attempt.error:
        return attempt.body[:ERROR_DATA_MAX]
    return (attempt.error or summary(attempt)).encode()[:ERROR_DATA_MAX]
