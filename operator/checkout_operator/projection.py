"""Choreography's read model: what each shop event says about the steps of its checkout. Pure:
an event in, step updates out, fed to the same status model orchestration uses."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from cloudevents.core.base import BaseCloudEvent

from checkout_core import events
from checkout_core.steps import BY_RESULT, STEPS, Step
from checkout_operator.status import Change, StepUpdate

ATTEMPT = "deliveryattempt"
"""Extension the dispatcher sets on what it publishes: which delivery attempt produced it."""


def _when(event: BaseCloudEvent, fallback: datetime.datetime) -> datetime.datetime:
    time = event.get_time()
    return time if isinstance(time, datetime.datetime) else fallback


def _attempt(event: BaseCloudEvent) -> int:
    try:
        return max(1, int(str(event.get_extension(ATTEMPT) or 1)))
    except ValueError:
        return 1


def updates(
    event: BaseCloudEvent, now: datetime.datetime, catalogue: Iterable[Step] = STEPS
) -> list[StepUpdate]:
    """The step updates an event means. An event's own time is when it happened, so timings
    stay true however late the projection runs. Events of other types mean nothing here."""
    at = _when(event, now)
    attributes = event.get_attributes()
    started = [
        StepUpdate(step.name, Change.STARTED, at, attempt=1)
        for step in catalogue
        if step.consumes == event.get_type() and step.applies(attributes)
    ]
    if started:
        return started
    if event.get_type() not in BY_RESULT:
        return []
    step, succeeded = BY_RESULT[event.get_type()]
    data = event.get_data()
    data = data if isinstance(data, dict) else {}
    if succeeded:
        return [
            StepUpdate(
                step.name, Change.SUCCEEDED, at, attempt=_attempt(event), output=step.output(data)
            )
        ]
    reason, message = data.get("reason") or "Failed", data.get("message") or event.get_type()
    return [
        StepUpdate(
            step.name, Change.FAILED, at, attempt=_attempt(event), message=f"{reason}: {message}"
        )
    ]


def checkout_of(event: BaseCloudEvent) -> tuple[str, str] | None:
    """(namespace, name) of the Checkout an event belongs to, from its `checkout` attribute."""
    value = event.get_extension(events.CHECKOUT)
    namespace, _, name = str(value or "").partition("/")
    return (namespace, name) if namespace and name else None
