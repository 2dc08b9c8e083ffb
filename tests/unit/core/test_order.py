"""Order.from_json: the contract's shape, its totals and defaults, and every refusal naming the
field at fault."""

from __future__ import annotations

from decimal import Decimal

import pytest

from checkout_core.order import InvalidOrder, Order
from tests.builders import ORDER, order_with

VALID = ORDER


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


FREE_TEXT = [
    "customer__name",
    "customer__email",
    "items__0__sku",
    "shippingAddress__line1",
    "shippingAddress__line2",
    "shippingAddress__city",
    "shippingAddress__region",
    "shippingAddress__postalCode",
]
"""Every field of the order written by people rather than to a pattern of safe characters."""


def dotted(path: str) -> str:
    """`items__0__sku` as the error names it: `order.items[0].sku`."""
    parts = path.split("__")
    named = [f"[{p}]" if p.isdigit() else f".{p}" for p in parts]
    return "order" + "".join(named)


@pytest.mark.parametrize("path", FREE_TEXT)
@pytest.mark.parametrize(
    "control", ["\r\n", "\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028"]
)
def test_control_characters_are_refused_in_every_free_text_field(path: str, control: str) -> None:
    value = f"ada{control}@example.com" if path == "customer__email" else f"Ada{control}Lovelace"
    with pytest.raises(InvalidOrder) as refused:
        Order.from_json(order_with(**{path: value}))
    assert str(refused.value) == f"{dotted(path)}: must not contain control characters " + (
        "(line breaks, tabs and the like)"
    )


@pytest.mark.parametrize("path", FREE_TEXT)
def test_a_lone_surrogate_is_refused_naming_the_field(path: str) -> None:
    value = "ada\ud800@example.com" if path == "customer__email" else "Ada\udc00"
    with pytest.raises(InvalidOrder, match="lone surrogate") as refused:
        Order.from_json(order_with(**{path: value}))
    assert str(refused.value).startswith(f"{dotted(path)}:")


@pytest.mark.parametrize(
    ("path", "longest"),
    [
        ("customer__name", 200),
        ("items__0__sku", 64),
        ("shippingAddress__line1", 200),
        ("shippingAddress__line2", 200),
        ("shippingAddress__city", 100),
        ("shippingAddress__region", 100),
        ("shippingAddress__postalCode", 20),
    ],
)
def test_text_longer_than_the_crd_allows_is_refused(path: str, longest: int) -> None:
    Order.from_json(order_with(**{path: "x" * longest}))
    with pytest.raises(InvalidOrder) as refused:
        Order.from_json(order_with(**{path: "x" * (longest + 1)}))
    assert str(refused.value) == (
        f"{dotted(path)}: must be at most {longest} characters, got {longest + 1}"
    )


def test_an_email_address_longer_than_the_crd_allows_is_refused() -> None:
    longest = "a" * 242 + "@example.com"
    assert len(longest) == 254
    assert Order.from_json(order_with(customer__email=longest)).customer.email == longest
    with pytest.raises(InvalidOrder, match=r"^order\.customer\.email: must be at most 254"):
        Order.from_json(order_with(customer__email="a" + longest))


def test_text_from_every_script_and_punctuation_is_welcome() -> None:
    data = order_with(
        customer__name='Zoë "Z" Ångström-Łukasiewicz, 李雷 (\U0001f600)',
        customer__email="zoë@exämple.com",
        shippingAddress__line1="Straße 1 ½ — Hinterhaus",
    )
    order = Order.from_json(data)
    assert order.customer.name.startswith("Zoë")
    assert order.shipping_address.line1 == "Straße 1 ½ — Hinterhaus"
