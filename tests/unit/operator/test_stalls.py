"""Which Choreography checkouts count as stalled, and when they are due to be republished."""

from __future__ import annotations

import datetime
from typing import Any

from checkout_core.steps import STEPS
from checkout_operator import status as model
from checkout_operator.stalls import Stalls, last_change

T0 = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
ATTRIBUTES = {"rewardsmember": "true"}


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def started() -> model.Status:
    return model.initial(STEPS, ATTRIBUTES, 1, T0)


def body(name: str, status: model.Status | None, mode: str = "Choreography") -> dict[str, Any]:
    found: dict[str, Any] = {
        "metadata": {"namespace": "shop", "name": name},
        "spec": {"mode": mode},
    }
    if status is not None:
        found["status"] = model.to_json(status)
    return found


def advanced(status: model.Status, step: str, seconds: float) -> model.Status:
    return model.apply(status, model.StepUpdate(step, model.Change.SUCCEEDED, at(seconds)))


def names(due: list[Any]) -> list[str]:
    return [b["metadata"]["name"] for b in due]


def test_last_change_is_the_latest_step_or_condition_time() -> None:
    status = started()
    assert last_change(status) == T0
    assert last_change(advanced(status, "email", 7)) == at(7)


def test_a_checkout_is_due_once_nothing_changed_for_long_enough() -> None:
    stalls = Stalls(after=60)
    stalls.observe(body("quiet", started()))
    assert stalls.due(at(59)) == []
    assert names(stalls.due(at(60))) == ["quiet"]


def test_progress_puts_the_clock_back() -> None:
    stalls = Stalls(after=60)
    stalls.observe(body("busy", started()))
    stalls.observe(body("busy", advanced(started(), "email", 50)))
    assert stalls.due(at(100)) == []
    assert names(stalls.due(at(110))) == ["busy"]


def test_a_republished_checkout_is_due_again_only_after_another_wait() -> None:
    stalls = Stalls(after=60)
    stalls.observe(body("lost", started()))
    stalls.republished("shop", "lost", at(60))
    # the watch sees the same old status again: that does not undo the republishing
    stalls.observe(body("lost", started()))
    assert stalls.due(at(119)) == []
    assert names(stalls.due(at(120))) == ["lost"]


def test_finished_orchestrated_unstarted_and_deleted_checkouts_are_not_watched() -> None:
    stalls = Stalls(after=60)
    done = started()
    for step in ("email", "shipment", "rewards"):
        done = advanced(done, step, 1)
    assert done.finished
    stalls.observe(body("done", started()))
    stalls.observe(body("done", done))
    stalls.observe(body("orchestrated", started(), mode="Orchestration"))
    stalls.observe(body("unstarted", None))
    stalls.observe(body("deleted", started()))
    stalls.forget("shop", "deleted")
    assert len(stalls) == 0
    assert stalls.due(at(3600)) == []


def test_oldest_first_and_never_when_switched_off() -> None:
    stalls = Stalls(after=60)
    stalls.observe(body("newer", advanced(started(), "email", 30)))
    stalls.observe(body("older", started()))
    assert names(stalls.due(at(600))) == ["older", "newer"]
    off = Stalls(after=0)
    off.observe(body("older", started()))
    assert off.due(at(600)) == []
