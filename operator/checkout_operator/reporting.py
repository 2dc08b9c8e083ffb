"""Reporting what happens to a checkout, one way for both modes: every step change goes into the
status model, and a person reading `kubectl describe` gets the story in few Kubernetes Events — a
Warning when a step fails or is retried, and one Event when the checkout finishes that sums up
every step (`Succeeded: email 25 ms, shipment 17 ms, rewards skipped`). A checkout that succeeds
costs exactly one Event. Orchestration's recorder, choreography's projector and the refusals all
report through here. Pure: the Event is handed to `announce`."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from checkout_core.api import Phase
from checkout_core.steps import Step
from checkout_operator import status as model
from checkout_operator.status import Change, Status, StepStatus, StepUpdate

Announce = Callable[[str, str, str], None]
"""Posts a Kubernetes Event: (type, reason, message)."""

NORMAL, WARNING = "Normal", "Warning"
WARNINGS = frozenset({Change.FAILED, Change.RETRYING})
"""The step changes a person should look at, each an Event of type Warning as it happens."""


def describe(update: StepUpdate) -> str:
    """The message of the Warning that reports a step change."""
    text = update.message if update.change is Change.RETRYING else f"failed: {update.message}"
    return f"{update.step}: {text}"


def _milliseconds(step: StepStatus) -> str:
    if step.started_at is None or step.completed_at is None:
        return ""
    spent = (step.completed_at - step.started_at).total_seconds() * 1000
    return f" {max(0, round(spent))} ms"


def _told(step: StepStatus) -> str:
    retried = f" after {step.attempts} attempts" if step.attempts > 1 else ""
    match step.phase:
        case Phase.SUCCEEDED:
            return f"{step.name}{_milliseconds(step)}{retried}"
        case Phase.SKIPPED:
            return f"{step.name} skipped"
        case Phase.FAILED:
            return f"{step.name} failed{_milliseconds(step)}{retried}"
        case _:
            return f"{step.name} not run"


def summary(status: Status) -> tuple[str, str, str]:
    """The one Event of a finished checkout: (type, reason, message); its reason is the phase.
    Why a step failed was said by its Warning already, and stays in the step's status."""
    kind = NORMAL if status.phase is Phase.SUCCEEDED else WARNING
    steps = ", ".join(_told(step) for step in status.steps)
    return kind, str(status.phase), f"{status.phase}: {steps}"


def advance(status: Status, update: StepUpdate, announce: Announce) -> Status:
    """The status after `update`. A failure or a retry is announced as it happens; the checkout
    finishing, once, with its summary. A repeated or late update (a redelivered event, a retried
    call) changes nothing and costs nothing."""
    changed = model.apply(status, update)
    if changed == status:
        return status
    if update.change in WARNINGS:
        announce(WARNING, str(update.change), describe(update))
    if changed.finished and not status.finished:
        announce(*summary(changed))
    return changed


def begin(
    recorded: Mapping[str, Any] | None,
    catalogue: Iterable[Step],
    attributes: Callable[[], Mapping[str, Any]],
    generation: int,
    now: datetime.datetime,
    announce: Announce,
) -> tuple[Status, bool]:
    """Where a checkout stands, and whether that was recorded already. A fresh status is made
    from the catalogue, for an `order.placed` with `attributes()` (asked only then); one that is
    finished from the start (every step skipped) is announced here, since no update ever is."""
    existing = model.from_json(recorded)
    if existing is not None:
        return existing, True
    fresh = model.initial(catalogue, attributes(), generation, now)
    if fresh.finished:
        announce(*summary(fresh))
    return fresh, False


def refuse(
    catalogue: Iterable[Step],
    refusal: model.Refusal,
    generation: int,
    now: datetime.datetime,
    announce: Announce,
) -> Status:
    """A checkout that cannot be carried out at all, announced as a Warning."""
    announce(WARNING, refusal.reason, refusal.message)
    return model.refused(catalogue, refusal, generation, now)
