"""Which Checkouts the operator works on, from what its watch shows: each once, never one being
deleted, never again after its work is done, and a Choreography checkout only to start it."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from checkout_core.api import CHOREOGRAPHY, ORCHESTRATION
from checkout_core.steps import STEPS
from checkout_operator import status as model
from checkout_operator.intake import DELETED, LISTED, Action, decide
from checkout_operator.status import Change, StepUpdate
from tests.builders import ORDER

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
RUNNING = model.apply(
    model.initial(STEPS, {"rewardsmember": "true"}, 1, T0),
    StepUpdate("email", Change.STARTED, T0, attempt=1),
)
FINISHED = model.refused(STEPS, model.Refusal("InvalidOrder", "spec.order.id"), 1, T0)


def _body(mode: str, status: model.Status | None = None, **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "c", "namespace": "n", "uid": "u-1", **meta},
        "spec": {"mode": mode, "order": ORDER},
    }
    if status is not None:
        body["status"] = model.to_json(status)
    return body


def _decide(event_type: str | None, body: dict[str, Any], **known: bool) -> Action:
    return decide(
        event_type, body, busy=known.get("busy", False), concluded=known.get("concluded", False)
    )


@pytest.mark.parametrize("event_type", [LISTED, "ADDED", "MODIFIED"])
def test_an_orchestration_checkout_is_worked_on_until_its_status_is_finished(
    event_type: str | None,
) -> None:
    assert _decide(event_type, _body(ORCHESTRATION)) is Action.ORCHESTRATE
    assert _decide(event_type, _body(ORCHESTRATION, RUNNING)) is Action.ORCHESTRATE
    assert _decide(event_type, _body(ORCHESTRATION, FINISHED)) is Action.NOTHING


def test_a_choreography_checkout_is_started_once_and_resumed_only_at_start_up() -> None:
    assert _decide("ADDED", _body(CHOREOGRAPHY)) is Action.CHOREOGRAPH
    # its status recorded, the projector carries it ...
    assert _decide("MODIFIED", _body(CHOREOGRAPHY, RUNNING)) is Action.NOTHING
    # ... unless the operator (re)starts and lists it unfinished: publish again, deduplicated
    assert _decide(LISTED, _body(CHOREOGRAPHY, RUNNING)) is Action.CHOREOGRAPH
    assert _decide(LISTED, _body(CHOREOGRAPHY, FINISHED)) is Action.NOTHING


@pytest.mark.parametrize("mode", [ORCHESTRATION, CHOREOGRAPHY])
def test_no_second_worker_no_work_after_it_is_done_and_none_on_a_checkout_being_deleted(
    mode: str,
) -> None:
    assert _decide("MODIFIED", _body(mode), busy=True) is Action.NOTHING
    # an older copy of the Checkout, delivered after its work was done
    assert _decide(LISTED, _body(mode, RUNNING), concluded=True) is Action.NOTHING
    deleting = _body(mode, deletionTimestamp="2026-01-01T00:00:00Z")
    assert _decide("MODIFIED", deleting) is Action.NOTHING


def test_a_checkout_leaving_the_watch_is_forgotten_whatever_it_was_doing() -> None:
    # deleted, or finished: the event shows it as it was before, unfinished either way
    assert _decide(DELETED, _body(ORCHESTRATION, RUNNING), busy=True) is Action.FORGET
    assert _decide(DELETED, _body(CHOREOGRAPHY), concluded=True) is Action.FORGET
