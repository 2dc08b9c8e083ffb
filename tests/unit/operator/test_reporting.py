"""Reporting: step changes go into the status; a person gets a Warning for each failure or retry
and one Event summing up the checkout when it finishes — the same in both modes."""

from __future__ import annotations

import datetime

from checkout_core.api import Phase
from checkout_core.steps import STEPS
from checkout_operator import reporting
from checkout_operator import status as model
from checkout_operator.status import Change, Status, StepUpdate

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
GUEST = {"rewardsmember": "false"}
MEMBER = {"rewardsmember": "true"}


class Announced(list[tuple[str, str, str]]):
    def __call__(self, kind: str, reason: str, message: str) -> None:
        self.append((kind, reason, message))


def _at(ms: int) -> datetime.datetime:
    return T0 + datetime.timedelta(milliseconds=ms)


def _run(status: Status, updates: list[StepUpdate], announced: Announced) -> Status:
    for update in updates:
        status = reporting.advance(status, update, announced)
    return status


def test_a_checkout_that_succeeds_is_announced_once_with_every_step_timed() -> None:
    announced = Announced()
    status = model.initial(STEPS, MEMBER, 1, T0)
    started = [StepUpdate(n, Change.STARTED, T0, attempt=1) for n in ("email", "shipment")]
    status = _run(status, started, announced)
    assert announced == []  # a step starting or succeeding is no Event of its own
    status = _run(
        status,
        [
            StepUpdate("email", Change.SUCCEEDED, _at(25), attempt=1),
            StepUpdate("rewards", Change.STARTED, _at(2), attempt=1),
            StepUpdate("rewards", Change.SUCCEEDED, _at(18), attempt=1),
            StepUpdate("shipment", Change.SUCCEEDED, _at(17), attempt=2),
            StepUpdate("shipment", Change.SUCCEEDED, _at(99), attempt=2),  # a repeat
        ],
        announced,
    )
    assert status.phase is Phase.SUCCEEDED
    assert announced == [
        (
            "Normal",
            "Succeeded",
            "Succeeded: email 25 ms, shipment 17 ms after 2 attempts, rewards 16 ms",
        )
    ]


def test_failures_and_retries_are_warnings_as_they_happen_and_the_end_too() -> None:
    announced = Announced()
    status = model.initial(STEPS, GUEST, 1, T0)
    status = _run(
        status,
        [
            StepUpdate("email", Change.STARTED, T0, attempt=1),
            StepUpdate("email", Change.RETRYING, _at(5), 1, "attempt 1 failed: HTTP 503"),
            StepUpdate("shipment", Change.STARTED, T0, attempt=1),
            StepUpdate("shipment", Change.FAILED, _at(7), 1, "CountryNotServed: XX"),
            StepUpdate("email", Change.SUCCEEDED, _at(30), attempt=2),
        ],
        announced,
    )
    assert status.phase is Phase.FAILED
    assert announced == [
        ("Warning", "StepRetrying", "email: attempt 1 failed: HTTP 503"),
        ("Warning", "StepFailed", "shipment: failed: CountryNotServed: XX"),
        (
            "Warning",
            "Failed",
            "Failed: email 30 ms after 2 attempts, shipment failed 7 ms, rewards skipped",
        ),
    ]


def test_the_summary_names_steps_never_run() -> None:
    status = model.initial(STEPS, MEMBER, 1, T0)
    status = model.apply(status, StepUpdate("email", Change.STARTED, T0, 1))
    status = model.apply(status, StepUpdate("email", Change.FAILED, _at(4), 1, "bad address"))
    assert reporting.summary(status) == (
        "Warning",
        "Failed",
        "Failed: email failed 4 ms, shipment not run, rewards not run",
    )


def test_a_fresh_status_says_nothing_unless_it_is_finished_already() -> None:
    announced = Announced()
    fresh, recorded = reporting.begin(None, STEPS, lambda: GUEST, 1, T0, announced)
    assert recorded is False
    assert fresh.step("rewards").phase is Phase.SKIPPED
    assert announced == []
    again, recorded = reporting.begin(model.to_json(fresh), STEPS, lambda: GUEST, 1, T0, announced)
    assert (again, recorded, announced) == (fresh, True, [])
    # a catalogue whose every step is skipped: finished before anything happens
    only_rewards = [s for s in STEPS if s.name == "rewards"]
    done, _ = reporting.begin(None, only_rewards, lambda: GUEST, 1, T0, announced)
    assert done.phase is Phase.SUCCEEDED
    assert announced == [("Normal", "Succeeded", "Succeeded: rewards skipped")]


def test_a_refused_checkout_fails_with_its_reason_and_no_step_attempted() -> None:
    announced = Announced()
    refusal = model.Refusal("InvalidOrder", "spec.order.id: 'x y' does not match")
    status = reporting.refuse(STEPS, refusal, 3, T0, announced)
    assert announced == [("Warning", "InvalidOrder", "spec.order.id: 'x y' does not match")]
    assert status.phase is Phase.FAILED
    assert {s.phase for s in status.steps} == {Phase.PENDING}
    assert status.condition is not None
    assert (status.condition.status, status.condition.reason) == ("False", "InvalidOrder")
    # Written and read back, it is the same refusal, and no update moves it.
    read = model.from_json(model.to_json(status))
    assert read == status
    assert model.apply(status, StepUpdate("email", Change.STARTED, T0, 1)) == status
