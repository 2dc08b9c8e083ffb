"""What each shop event means for the steps of its checkout."""

from __future__ import annotations

import datetime

from cloudevents.core.v1.event import CloudEvent

from checkout_core import events
from checkout_operator.projection import checkout_of, updates
from checkout_operator.status import Change

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
ORDER = {"id": "1001"}


def test_order_placed_starts_the_steps_whose_condition_holds() -> None:
    member = updates(events.order_placed(ORDER, "s/c", event_id="e", rewards_member=True), NOW)
    guest = updates(events.order_placed(ORDER, "s/c", event_id="e", rewards_member=False), NOW)
    assert [(u.step, u.change, u.attempt) for u in member] == [
        ("email", Change.STARTED, 1),
        ("shipment", Change.STARTED, 1),
        ("rewards", Change.STARTED, 1),
    ]
    assert [u.step for u in guest] == ["email", "shipment"]


def test_a_result_event_finishes_its_step_with_output_and_attempt() -> None:
    source = events.order_placed(ORDER, "s/c", event_id="e", rewards_member=True)
    sent = events.reply(source, events.POINTS_CREDITED, "/f", {"points": 25, "balance": 37, "x": 1})
    attributes = {**sent.get_attributes(), "deliveryattempt": "3"}
    (update,) = updates(CloudEvent(attributes=attributes, data=sent.get_data()), NOW)
    assert (update.step, update.change, update.attempt) == ("rewards", Change.SUCCEEDED, 3)
    assert update.output == {"points": 25, "balance": 37}
    assert update.at == sent.get_time()


def test_a_failed_event_fails_its_step_with_the_reason() -> None:
    source = events.order_placed(ORDER, "s/c", event_id="e", rewards_member=True)
    failed = events.reply(
        source, events.SHIPMENT_FAILED, "/f", events.failure("CountryNotServed", "no parcels to XX")
    )
    (update,) = updates(failed, NOW)
    assert (update.step, update.change) == ("shipment", Change.FAILED)
    assert update.message == "CountryNotServed: no parcels to XX"
    assert update.attempt == 1


def test_other_events_mean_nothing_and_the_checkout_is_found_by_attribute() -> None:
    source = events.order_placed(ORDER, "shop/order-1001", event_id="e", rewards_member=True)
    other = events.reply(source, "com.example.other.thing", "/f", {})
    assert updates(other, NOW) == []
    assert checkout_of(source) == ("shop", "order-1001")
