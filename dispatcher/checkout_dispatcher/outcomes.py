"""What one delivery attempt's result means and what becomes of the event next: acknowledged,
brought back by the broker after a backoff, or given up and dead-lettered. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from checkout_core.answers import Attempt, Outcome, classify, summary
from checkout_core.triggers import Delivery

ERROR_DATA_MAX = 1024
"""Bytes of a subscriber's error body kept in a dead letter: enough to read the error, not
enough to copy a whole page into the dead-letter stream."""


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
    """What to do after attempt `number` (1-based: deliveries to the subscriber, see attempts)
    to deliver to `destination`. The count is kept in the broker, not in this process, so a
    replica that takes over an event mid-retries goes on counting where the last one stopped."""
    outcome = classify(attempt)
    if outcome is Outcome.DELIVERED:
        return Acknowledge()
    if outcome is Outcome.TRANSIENT and number < delivery.attempts:
        return Retry(delivery.backoff(number))
    if outcome is Outcome.PERMANENT:
        return GiveUp(f"delivery to {destination} was refused: {summary(attempt)}")
    plural = "attempt" if number == 1 else "attempts"
    return GiveUp(f"delivery to {destination} failed after {number} {plural}: {summary(attempt)}")


def error_data(attempt: Attempt) -> bytes:
    """What `knativeerrordata` holds (before base64): the subscriber's answer when it gave one,
    else the error."""
    if attempt.body and not attempt.error:
        return attempt.body[:ERROR_DATA_MAX]
    return (attempt.error or summary(attempt)).encode()[:ERROR_DATA_MAX]
