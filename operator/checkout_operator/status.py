"""The one status model of a Checkout, for both modes: steps, phase, progress and the Succeeded
condition. Pure: transitions take a status and return a new one; orchestration feeds it the
results of its calls, the choreography projector feeds it events, and both write the same shape."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkout_core import api
from checkout_core.api import SUCCEEDED, Phase
from checkout_core.steps import Step


class Change(enum.StrEnum):
    """What happened to a step; also the reason of the Kubernetes Event that reports it."""

    STARTED = "StepStarted"
    RETRYING = "StepRetrying"
    SUCCEEDED = "StepSucceeded"
    FAILED = "StepFailed"
    SKIPPED = "StepSkipped"


@dataclass(frozen=True)
class StepUpdate:
    """One thing that happened to one step."""

    step: str
    change: Change
    at: datetime.datetime
    attempt: int | None = None
    """The attempt this update is about (orchestration counts them; events may not)."""
    message: str = ""
    output: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepStatus:
    name: str
    phase: Phase = Phase.PENDING
    attempts: int = 0
    started_at: datetime.datetime | None = None
    completed_at: datetime.datetime | None = None
    message: str = ""
    output: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str
    last_transition_time: datetime.datetime


@dataclass(frozen=True)
class Refusal:
    """Why a checkout cannot be carried out at all (its order breaks the contract): it fails
    with no step attempted."""

    reason: str
    message: str


@dataclass(frozen=True)
class Status:
    """A Checkout's status. Phase, progress and the condition are derived from the steps (or
    from the refusal, when there is one)."""

    steps: tuple[StepStatus, ...]
    observed_generation: int
    condition: Condition | None = None
    refusal: Refusal | None = None

    def step(self, name: str) -> StepStatus:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step {name!r} in this checkout")

    @property
    def phase(self) -> Phase:
        if self.refusal is not None:
            return Phase.FAILED
        phases = [s.phase for s in self.steps]
        if all(p.done for p in phases):
            return Phase.SUCCEEDED
        if Phase.FAILED in phases and Phase.RUNNING not in phases:
            return Phase.FAILED
        if any(p in (Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED) for p in phases):
            return Phase.RUNNING
        return Phase.PENDING

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)

    @property
    def progress(self) -> str:
        done = sum(1 for s in self.steps if s.phase.done)
        return f"{done}/{len(self.steps)}"

    @property
    def started_at(self) -> datetime.datetime | None:
        return min((s.started_at for s in self.steps if s.started_at), default=None)

    @property
    def completed_at(self) -> datetime.datetime | None:
        if not self.finished:
            return None
        return max((s.completed_at for s in self.steps if s.completed_at), default=None)

    def pending(self) -> list[str]:
        """Steps still to run: not finished (Pending, or Running when work was interrupted)."""
        return [s.name for s in self.steps if not s.phase.terminal]


def initial(
    catalogue: Iterable[Step],
    attributes: Mapping[str, Any],
    generation: int,
    now: datetime.datetime,
) -> Status:
    """A new checkout: every step Pending, or Skipped when its condition does not hold for the
    `order.placed` event with these attributes."""
    steps = []
    for step in catalogue:
        if step.applies(attributes):
            steps.append(StepStatus(step.name))
        else:
            condition = ", ".join(f"{k}={v}" for k, v in step.when.items())
            steps.append(
                StepStatus(
                    step.name,
                    Phase.SKIPPED,
                    completed_at=now,
                    message=f"condition {condition} does not hold",
                )
            )
    return _summarize(Status(tuple(steps), generation), now)


def refused(
    catalogue: Iterable[Step], refusal: Refusal, generation: int, now: datetime.datetime
) -> Status:
    """A checkout that cannot be carried out: every step left Pending, the checkout Failed."""
    steps = tuple(StepStatus(step.name) for step in catalogue)
    return _summarize(Status(steps, generation, refusal=refusal), now)


def apply(status: Status, update: StepUpdate) -> Status:
    """The status after `update`. A finished step stays finished: a late or repeated event
    (at-least-once delivery, a retried call) never moves it back."""
    current = status.step(update.step)
    if current.phase.terminal or status.refusal is not None:
        return status
    attempts = max(current.attempts, update.attempt or 0)
    match update.change:
        case Change.STARTED | Change.RETRYING:
            changed = dataclasses.replace(
                current,
                phase=Phase.RUNNING,
                attempts=attempts,
                started_at=current.started_at or update.at,
                message=update.message,
            )
        case Change.SUCCEEDED | Change.FAILED | Change.SKIPPED:
            phase = {
                Change.SUCCEEDED: Phase.SUCCEEDED,
                Change.FAILED: Phase.FAILED,
                Change.SKIPPED: Phase.SKIPPED,
            }[update.change]
            changed = dataclasses.replace(
                current,
                phase=phase,
                attempts=attempts,
                started_at=current.started_at or update.at,
                completed_at=update.at,
                message=update.message,
                output=dict(update.output),
            )
    steps = tuple(changed if s.name == update.step else s for s in status.steps)
    return _summarize(dataclasses.replace(status, steps=steps), update.at)


def _summarize(status: Status, now: datetime.datetime) -> Status:
    """Recompute the Succeeded condition; its lastTransitionTime moves only when status does."""
    phase = status.phase
    if status.refusal is not None:
        value, reason, message = "False", status.refusal.reason, status.refusal.message
    elif phase is Phase.SUCCEEDED:
        value, reason, message = "True", "AllStepsSucceeded", "every step succeeded or was skipped"
    elif phase is Phase.FAILED:
        failed = [s for s in status.steps if s.phase is Phase.FAILED]
        value, reason = "False", "StepFailed"
        message = "; ".join(f"{s.name}: {s.message}" for s in failed)
    else:
        value = "Unknown"
        reason = "StepsRunning" if phase is Phase.RUNNING else "StepsPending"
        message = f"{status.progress} steps done"
    previous = status.condition
    since = previous.last_transition_time if previous and previous.status == value else now
    return dataclasses.replace(status, condition=Condition(value, reason, message, since))


# The wire format: what status looks like on the Checkout.


def _time(value: datetime.datetime | None) -> str | None:
    return None if value is None else api.rfc3339(value)


def to_json(status: Status) -> dict[str, Any]:
    """The Checkout's `status` as the API stores it (RFC 3339 times, camelCase)."""
    steps = []
    for s in status.steps:
        entry: dict[str, Any] = {
            "name": s.name,
            "phase": str(s.phase),
            "attempts": s.attempts,
            "message": s.message,
            "output": dict(s.output),
        }
        if s.started_at:
            entry["startedAt"] = _time(s.started_at)
        if s.completed_at:
            entry["completedAt"] = _time(s.completed_at)
        steps.append(entry)
    body: dict[str, Any] = {
        "observedGeneration": status.observed_generation,
        "phase": str(status.phase),
        "progress": status.progress,
        "startedAt": _time(status.started_at),
        "completedAt": _time(status.completed_at),
        "steps": steps,
        "conditions": [],
    }
    if status.condition:
        c = status.condition
        body["conditions"] = [
            api.condition(
                SUCCEEDED,
                c.status,
                c.reason,
                c.message,
                generation=status.observed_generation,
                since=c.last_transition_time,
            )
        ]
    return body


def from_json(body: Mapping[str, Any] | None) -> Status | None:
    """A status read back from the Checkout; None when the operator has not written one yet."""
    if not body or not body.get("steps"):
        return None
    steps = tuple(
        StepStatus(
            name=s["name"],
            phase=Phase(s["phase"]),
            attempts=s.get("attempts", 0),
            started_at=api.parse_rfc3339(s.get("startedAt")),
            completed_at=api.parse_rfc3339(s.get("completedAt")),
            message=s.get("message", ""),
            output=s.get("output") or {},
        )
        for s in body["steps"]
    )
    condition = None
    for c in body.get("conditions") or []:
        if c.get("type") == SUCCEEDED:
            when = api.parse_rfc3339(c.get("lastTransitionTime"))
            if when is not None:
                condition = Condition(c["status"], c.get("reason", ""), c.get("message", ""), when)
    refusal = None
    failed_steps = any(s.phase is Phase.FAILED for s in steps)
    if condition is not None and condition.status == "False" and not failed_steps:
        # Failed with no failed step: only a refusal of the whole checkout ends so.
        refusal = Refusal(condition.reason, condition.message)
    return Status(steps, body.get("observedGeneration", 0), condition, refusal)
