"""Order.from_json: the contract's shape, its totals and defaults, and every refusal naming the
field at fault."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from checkout_core.order import InvalidOrder, Order

VALID: dict[str, Any] = {
    "id": "1001",
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "rewardsMember": True},
    "currency": "EUR",
    "items": [
        {"sku": "BOOK-42", "quantity": 2, "unitPrice": "12.50"},
        {"sku": "PEN-7", "quantity": 1, "unitPrice": "0.99"},
    ],
    "shippingAddress": {
        "line1": "1 Analytical Way",
        "city": "London",
        "postalCode": "N1 9GU",
        "country": "GB",
    },
}


def order_with(**changes: Any) -> dict[str, Any]:
    """VALID with the fields at `a__b__0__c` paths set to new values (None removes one)."""
    data = copy.deepcopy(VALID)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return data


def test_a_valid_order_is_parsed() -> None:
    order = Order.from_json(VALID)
    assert order.id == "1001"
    assert order.customer.name == "Ada Lovelace"
    assert order.customer.email == "ada@example.com"
    assert order.customer.rewards_member is True
    assert order.currency == "EUR"
    assert [(i.sku, i.quantity, i.unit_price) for i in order.items] == [
        ("BOOK-42", 2, Decimal("12.50")),
        ("PEN-7", 1, Decimal("0.99")),
    ]
    assert order.shipping_address.country == "GB"
    assert order.shipping_address.postal_code == "N1 9GU"


def test_total_is_the_sum_of_quantity_times_unit_price() -> None:
    order = Order.from_json(VALID)
    assert order.items[0].subtotal == Decimal("25.00")
    assert order.total == Decimal("25.99")


@pytest.mark.parametrize(
    ("price", "quantity", "points"),
    [("25.99", 1, 25), ("12.50", 2, 25), ("0.99", 1, 0), ("1.00", 3, 3), ("0", 5, 0)],
)
def test_points_are_the_whole_units_of_the_total(price: str, quantity: int, points: int) -> None:
    data = order_with(items=[{"sku": "X", "quantity": quantity, "unitPrice": price}])
    assert Order.from_json(data).points == points


def test_defaults_as_in_the_crd() -> None:
    order = Order.from_json(order_with(currency=None, customer__rewardsMember=None))
    assert order.currency == "USD"
    assert order.customer.rewards_member is False
    assert order.shipping_address.line2 == ""
    assert order.shipping_address.region == ""


def test_to_json_round_trips() -> None:
    assert Order.from_json(Order.from_json(VALID).to_json()) == Order.from_json(VALID)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([VALID], "order"),
        (order_with(id=None), "order.id"),
        (order_with(id="has space"), "order.id"),
        (order_with(id="x" * 65), "order.id"),
        (order_with(id=1001), "order.id"),
        (order_with(customer=None), "order.customer"),
        (order_with(customer__name=None), "order.customer.name"),
        (order_with(customer__name=""), "order.customer.name"),
        (order_with(customer__email="not-an-address"), "order.customer.email"),
        (order_with(customer__rewardsMember="yes"), "order.customer.rewardsMember"),
        (order_with(currency="eur"), "order.currency"),
        (order_with(items=[]), "order.items"),
        (order_with(items={"sku": "X"}), "order.items"),
        (order_with(items=[VALID["items"][0]] * 101), "order.items"),
        (order_with(items__0__quantity=0), "order.items[0].quantity"),
        (order_with(items__1__quantity=1001), "order.items[1].quantity"),
        (order_with(items__0__quantity=True), "order.items[0].quantity"),
        (order_with(items__0__quantity="2"), "order.items[0].quantity"),
        (order_with(items__0__unitPrice="12.505"), "order.items[0].unitPrice"),
        (order_with(items__0__unitPrice="-1"), "order.items[0].unitPrice"),
        (order_with(items__0__unitPrice=12.5), "order.items[0].unitPrice"),
        (order_with(items__1__sku=None), "order.items[1].sku"),
        (order_with(shippingAddress=None), "order.shippingAddress"),
        (order_with(shippingAddress__city=None), "order.shippingAddress.city"),
        (order_with(shippingAddress__country="GBR"), "order.shippingAddress.country"),
    ],
)
def test_a_bad_order_is_refused_naming_the_field(data: object, field: str) -> None:
    with pytest.raises(InvalidOrder) as refused:
        Order.from_json(data)
    assert str(refused.value).startswith(f"{field}:")
