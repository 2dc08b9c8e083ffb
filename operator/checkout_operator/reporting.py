"""Reporting what happens to a checkout, one way for both modes: every step change goes into the
status model and, when it changed anything, out as one Kubernetes Event (a Warning for a step
that failed or is being retried). Orchestration's recorder, choreography's projector and the
refusals all report through here. Pure: the Event is handed to `announce`."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from checkout_core.api import Phase
from checkout_core.steps import Step
from checkout_operator import status as model
from checkout_operator.status import Change, Status, StepUpdate

Announce = Callable[[str, str, str], None]
"""Posts a Kubernetes Event: (type, reason, message)."""

NORMAL, WARNING = "Normal", "Warning"
WARNINGS = frozenset({Change.FAILED, Change.RETRYING})
"""The changes a person should look at: an Event of type Warning."""


def describe(update: StepUpdate) -> str:
    """The message of the Kubernetes Event that reports a step change."""
    text = {
        Change.STARTED: f"attempt {update.attempt} started",
        Change.RETRYING: update.message,
        Change.SUCCEEDED: f"succeeded on attempt {update.attempt}",
        Change.FAILED: f"failed: {update.message}",
        Change.SKIPPED: f"skipped: {update.message}",
    }[update.change]
    return f"{update.step}: {text}"


def announce_update(update: StepUpdate, announce: Announce) -> None:
    kind = WARNING if update.change in WARNINGS else NORMAL
    announce(kind, str(update.change), describe(update))


def advance(status: Status, update: StepUpdate, announce: Announce) -> Status:
    """The status after `update`, announced when it changed anything: a repeated or late
    update (a redelivered event, a retried call) costs no Event."""
    changed = model.apply(status, update)
    if changed != status:
        announce_update(update, announce)
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
    from the catalogue, for an `order.placed` with `attributes()` (asked only then), and its
    Skipped steps announced here, once: no update ever reports them, and once the fresh status is
    written this path is not taken again."""
    existing = model.from_json(recorded)
    if existing is not None:
        return existing, True
    fresh = model.initial(catalogue, attributes(), generation, now)
    for step in fresh.steps:
        if step.phase is Phase.SKIPPED:
            skipped = StepUpdate(step.name, Change.SKIPPED, now, message=step.message)
            announce_update(skipped, announce)
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
