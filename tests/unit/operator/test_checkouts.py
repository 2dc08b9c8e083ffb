"""A Checkout body read by the operator: its event and trace context."""

from __future__ import annotations

import re
from typing import Any

from checkout_core import events
from checkout_operator.checkouts import Checkout
from checkout_operator.orchestration import Strategy

BODY: dict[str, Any] = {
    "metadata": {
        "namespace": "shop",
        "name": "order-1001",
        "uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "generation": 1,
    },
    "spec": {
        "mode": "Orchestration",
        "order": {
            "id": "1001",
            "customer": {"name": "Ada", "email": "ada@example.com", "rewardsMember": True},
            "items": [{"sku": "B", "quantity": 2, "unitPrice": "12.50"}],
            "shippingAddress": {"line1": "1", "city": "L", "postalCode": "N", "country": "GB"},
        },
    },
}


def test_placed_event_carries_the_contract_attributes() -> None:
    checkout = Checkout.from_body(BODY)
    event = checkout.placed_event()
    assert event.get_type() == events.ORDER_PLACED
    assert event.get_subject() == "1001"
    assert event.get_extension("checkout") == "shop/order-1001"
    assert event.get_extension("rewardsmember") == "true"
    assert event.get_id() == checkout.placed_event().get_id()  # stable across attempts
    data = event.get_data()
    assert isinstance(data, dict) and data["currency"] == "USD"
    assert checkout.strategy is Strategy.PARALLEL


def test_traceparent_is_w3c_and_carries_the_uid() -> None:
    traceparent = Checkout.from_body(BODY).traceparent
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", traceparent)
    assert traceparent.split("-")[1] == "0f8fad5bd9cb469fa16570867728950e"
