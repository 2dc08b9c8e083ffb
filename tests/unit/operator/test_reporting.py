"""Reporting: a step change goes into the status and out as one Event, the same in both modes."""

from __future__ import annotations

import datetime

from checkout_core.api import Phase
from checkout_core.steps import STEPS
from checkout_operator import reporting
from checkout_operator import status as model
from checkout_operator.status import Change, StepUpdate

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
GUEST = {"rewardsmember": "false"}


class Announced(list[tuple[str, str, str]]):
    def __call__(self, kind: str, reason: str, message: str) -> None:
        self.append((kind, reason, message))


def test_a_change_is_announced_once_and_a_repeat_not_at_all() -> None:
    announced = Announced()
    status = model.initial(STEPS, {"rewardsmember": "true"}, 1, T0)
    started = StepUpdate("email", Change.STARTED, T0, attempt=1)
    status = reporting.advance(status, started, announced)
    again = reporting.advance(status, started, announced)
    assert again == status
    assert announced == [("Normal", "StepStarted", "email: attempt 1 started")]


def test_failures_and_retries_are_warnings_and_nothing_else_is() -> None:
    kinds = {}
    for change in Change:
        announced = Announced()
        reporting.announce_update(StepUpdate("email", change, T0, 1, "why"), announced)
        kinds[change] = announced[0][0]
    assert {c for c, kind in kinds.items() if kind == "Warning"} == {
        Change.FAILED,
        Change.RETRYING,
    }


def test_a_fresh_status_announces_its_skipped_steps_and_a_recorded_one_nothing() -> None:
    announced = Announced()
    fresh, recorded = reporting.begin(None, STEPS, lambda: GUEST, 1, T0, announced)
    assert recorded is False
    assert fresh.step("rewards").phase is Phase.SKIPPED
    assert announced == [
        ("Normal", "StepSkipped", "rewards: skipped: condition rewardsmember=true does not hold")
    ]
    announced.clear()
    again, recorded = reporting.begin(model.to_json(fresh), STEPS, lambda: GUEST, 1, T0, announced)
    assert (again, recorded, announced) == (fresh, True, [])


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
