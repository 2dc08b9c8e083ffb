"""The catalogue's Triggers and a Trigger's status, as built by the operator."""

from __future__ import annotations

import datetime
from typing import Any

from checkout_core.steps import STEPS
from checkout_core.triggers import Trigger
from checkout_operator import triggers
from checkout_operator.settings import Settings

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
SETTINGS = Settings.from_environment(
    {"CHECKOUT_NAMESPACE": "shop", "CHECKOUT_ATTEMPTS": "4", "CHECKOUT_BACKOFF_BASE": "0.5"}
)


def by_step() -> dict[str, dict[str, Any]]:
    return {
        t["metadata"]["labels"][triggers.STEP_LABEL]: t for t in triggers.desired(STEPS, SETTINGS)
    }


def test_one_trigger_per_step_filtered_by_the_steps_condition() -> None:
    built = by_step()
    assert set(built) == {"email", "shipment", "rewards"}
    assert built["email"]["spec"]["filter"]["attributes"] == {
        "type": "com.example.shop.order.placed"
    }
    assert built["rewards"]["spec"]["filter"]["attributes"] == {
        "type": "com.example.shop.order.placed",
        "rewardsmember": "true",
    }
    email = built["email"]
    assert email["metadata"]["namespace"] == "shop"
    assert email["spec"]["subscriber"] == {"uri": "http://checkout-confirmation.shop.svc/"}
    delivery = email["spec"]["delivery"]
    assert (delivery["retry"], delivery["backoffDelay"]) == (3, "PT0.5S")
    assert delivery["failedEventType"] == "com.example.shop.email.failed"


def test_built_triggers_read_back_through_the_shared_model() -> None:
    trigger = Trigger.from_body(by_step()["rewards"])
    assert trigger.delivery.attempts == 4
    assert trigger.filter_subject == "shop.events.com.example.shop.order.placed"
    assert trigger.matches({"type": "com.example.shop.order.placed", "rewardsmember": "true"})
    assert not trigger.matches({"type": "com.example.shop.order.placed", "rewardsmember": "false"})


def test_drift_is_seen_but_server_defaults_are_not() -> None:
    wanted = by_step()["email"]
    current = {"spec": {**wanted["spec"], "extra": "defaulted"}}
    assert not triggers.spec_differs(current, wanted)
    changed = {"spec": {**wanted["spec"], "subscriber": {"uri": "http://elsewhere/"}}}
    assert triggers.spec_differs(changed, wanted)


def test_status_is_ready_only_when_everything_behind_it_is() -> None:
    body = {**by_step()["email"], "metadata": {**by_step()["email"]["metadata"], "generation": 2}}
    ready = triggers.status(body, consumer_error=None, now=NOW)
    conditions = {c["type"]: c for c in ready["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert ready["observedGeneration"] == 2
    assert ready["consumer"] == "trigger_shop_checkout-email"
    assert Trigger.from_body({**body, "status": ready}).ready

    broken = triggers.status(body, consumer_error="stream not found", now=NOW)
    conditions = {c["type"]: c for c in broken["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == (
        "False",
        "ConsumerFailed",
    )
    assert conditions["Ready"]["message"] == "stream not found"

    elsewhere = {**body, "spec": {**body["spec"], "broker": "other"}}
    conditions = {
        c["type"]: c for c in triggers.status(elsewhere, consumer_error="x", now=NOW)["conditions"]
    }
    assert conditions["Ready"]["reason"] == "BrokerNotFound"
