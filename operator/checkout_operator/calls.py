"""What a function's answer to one call means for its step: done, refused for good, or worth
another try (whether to retry is the one rule of checkout_core.answers). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkout_core import answers, binding
from checkout_core.answers import Attempt
from checkout_core.steps import Step


@dataclass(frozen=True)
class Done:
    """The function replied with the step's success event."""

    data: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """A permanent answer: a `…failed` reply or a 400. Retrying would not help."""

    reason: str
    message: str


@dataclass(frozen=True)
class Transient:
    """5xx, a timeout, or no connection: another attempt may succeed."""

    message: str


Outcome = Done | Refused | Transient


def interpret(step: Step, attempt: Attempt) -> Outcome:
    """What one delivery's answer means for `step`. Pure, so every case is tested without a
    server. Whether to retry is the one rule of checkout_core.answers."""
    outcome = answers.classify(attempt)
    if outcome is answers.Outcome.TRANSIENT:
        return Transient(answers.summary(attempt))
    if attempt.status == 400:
        return Refused(
            "EventRejected", f"the function refused the event: {answers.summary(attempt)}"
        )
    if outcome is answers.Outcome.PERMANENT and not 200 <= attempt.status < 300:
        return Refused("UnexpectedAnswer", answers.summary(attempt))
    if attempt.error:
        return Refused("InvalidReply", answers.summary(attempt))
    try:
        reply = binding.from_http(attempt.headers, attempt.body)
    except binding.UnacceptableEvent as error:
        return Refused("InvalidReply", f"HTTP {attempt.status} without a reply event: {error}")
    data = reply.get_data()
    data = data if isinstance(data, dict) else {}
    if reply.get_type() == step.produces:
        return Done(data)
    if reply.get_type() == step.fails:
        return Refused(
            str(data.get("reason") or "Refused"), str(data.get("message") or reply.get_type())
        )
    return Refused("InvalidReply", f"unexpected reply type {reply.get_type()}")
