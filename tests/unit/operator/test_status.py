"""The status model: transitions, derived phase/progress/condition, and the wire format."""

from __future__ import annotations

import datetime

from checkout_core.api import Phase
from checkout_core.steps import STEPS
from checkout_operator.status import (
    Change,
    Condition,
    StepUpdate,
    apply,
    from_json,
    initial,
    to_json,
)

T0 = datetime.datetime(2026, 1, 1, 10, 0, 0, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


MEMBER = {"rewardsmember": "true"}
GUEST = {"rewardsmember": "false"}


def test_initial_status_skips_steps_whose_condition_does_not_hold() -> None:
    status = initial(STEPS, GUEST, 1, T0)
    assert [(s.name, s.phase) for s in status.steps] == [
        ("email", Phase.PENDING),
        ("shipment", Phase.PENDING),
        ("rewards", Phase.SKIPPED),
    ]
    assert "rewardsmember=true does not hold" in status.step("rewards").message
    assert status.phase is Phase.PENDING
    assert status.progress == "1/3"
    assert status.condition is not None and status.condition.status == "Unknown"


def test_all_steps_succeeding_makes_the_checkout_succeed() -> None:
    status = initial(STEPS, MEMBER, 1, T0)
    for name in ("email", "shipment", "rewards"):
        status = apply(status, StepUpdate(name, Change.STARTED, at(1), attempt=1))
    assert status.phase is Phase.RUNNING
    running_since = status.condition.last_transition_time if status.condition else None
    status = apply(
        status, StepUpdate("email", Change.SUCCEEDED, at(2), 1, output={"messageId": "<m>"})
    )
    assert status.progress == "1/3"
    assert status.condition and status.condition.last_transition_time == running_since
    status = apply(status, StepUpdate("shipment", Change.SUCCEEDED, at(3), 1))
    status = apply(status, StepUpdate("rewards", Change.SUCCEEDED, at(4), 1))
    assert status.phase is Phase.SUCCEEDED
    assert status.progress == "3/3"
    assert (status.started_at, status.completed_at) == (at(1), at(4))
    assert status.condition == Condition(
        "True", "AllStepsSucceeded", "every step succeeded or was skipped", at(4)
    )
    assert status.step("email").output == {"messageId": "<m>"}


def test_failed_step_fails_the_checkout_only_once_nothing_runs() -> None:
    status = initial(STEPS, GUEST, 1, T0)
    status = apply(status, StepUpdate("email", Change.STARTED, at(1), attempt=1))
    status = apply(status, StepUpdate("shipment", Change.STARTED, at(1), attempt=1))
    status = apply(status, StepUpdate("email", Change.FAILED, at(2), 5, message="gave up"))
    assert status.phase is Phase.RUNNING  # shipment still runs
    status = apply(status, StepUpdate("shipment", Change.SUCCEEDED, at(3), 1))
    assert status.phase is Phase.FAILED
    assert status.condition and status.condition.status == "False"
    assert status.condition.reason == "StepFailed"
    assert status.condition.message == "email: gave up"
    assert status.step("email").attempts == 5


def test_a_finished_step_never_moves_back() -> None:
    status = initial(STEPS, GUEST, 1, T0)
    status = apply(status, StepUpdate("email", Change.SUCCEEDED, at(1), 1, output={"a": 1}))
    for late in (
        StepUpdate("email", Change.STARTED, at(2), attempt=2),
        StepUpdate("email", Change.FAILED, at(2), 2, message="late"),
        StepUpdate("email", Change.SUCCEEDED, at(3), 3, output={"a": 2}),
    ):
        assert apply(status, late) == status


def test_retrying_keeps_the_first_start_and_counts_attempts() -> None:
    status = initial(STEPS, GUEST, 1, T0)
    status = apply(status, StepUpdate("email", Change.STARTED, at(1), attempt=1))
    status = apply(status, StepUpdate("email", Change.RETRYING, at(2), attempt=1, message="503"))
    step = status.step("email")
    assert (step.phase, step.attempts, step.started_at, step.message) == (
        Phase.RUNNING,
        1,
        at(1),
        "503",
    )
    assert status.pending() == ["email", "shipment"]


def test_wire_format_round_trips() -> None:
    status = initial(STEPS, MEMBER, 3, T0)
    status = apply(status, StepUpdate("email", Change.STARTED, at(1), attempt=1))
    status = apply(status, StepUpdate("email", Change.SUCCEEDED, at(2), 1, output={"m": "x"}))
    body = to_json(status)
    assert body["phase"] == "Running"
    assert body["progress"] == "1/3"
    assert body["observedGeneration"] == 3
    assert body["steps"][0]["startedAt"] == "2026-01-01T10:00:01.000000Z"
    assert body["conditions"][0]["type"] == "Succeeded"
    assert body["conditions"][0]["observedGeneration"] == 3
    assert from_json(body) == status
    assert from_json({}) is None
