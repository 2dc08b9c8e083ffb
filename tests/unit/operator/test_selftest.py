"""The self-test's pure parts: the Checkout it places, and how it reads one."""

from __future__ import annotations

from checkout_core.order import Order
from checkout_operator.selftest import checkout, outcome, summary


def test_the_checkout_it_places_is_a_valid_members_order() -> None:
    body = checkout("selftest-choreography-1", "Choreography", "selftest-1-Chore")
    order = Order.from_json(body["spec"]["order"])
    assert body["spec"]["mode"] == "Choreography"
    assert order.customer.rewards_member  # so no step is skipped


def test_only_a_final_phase_is_an_outcome() -> None:
    assert outcome({}) is None
    assert outcome({"status": {"phase": "Running"}}) is None
    assert outcome({"status": {"phase": "Failed"}}) == "Failed"


def test_the_summary_shows_each_step_and_why_it_failed() -> None:
    body = {
        "status": {
            "steps": [
                {"name": "email", "phase": "Succeeded", "attempts": 1, "message": ""},
                {"name": "shipment", "phase": "Failed", "attempts": 5, "message": "Timeout: 10s"},
            ]
        }
    }
    assert summary(body).splitlines() == [
        "  email: Succeeded (attempts 1)",
        "  shipment: Failed (attempts 5) - Timeout: 10s",
    ]
    assert summary({}) == "  (no status yet)"
