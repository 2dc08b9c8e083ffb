"""The order as placed: parsed from the Checkout's `spec.order` (the same JSON travels as the data
of `order.placed`), checked as strictly as the CRD checks it, and its totals."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
PRICE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (Unicode's Cc: C0, DEL, C1) and the two Unicode line separators: none has
a place in a single line of text, and in an email header a line break is an error (or worse, a
header of the sender's choosing). The CRD refuses the same."""
MAX_ITEMS = 100
MAX_QUANTITY = 1000


class InvalidOrder(ValueError):
    """The order does not follow the contract; the message names the field."""


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    rewards_member: bool


@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def subtotal(self) -> Decimal:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""
    region: str = ""


@dataclass(frozen=True)
class Order:
    id: str
    customer: Customer
    currency: str
    items: tuple[Item, ...]
    shipping_address: Address

    @property
    def total(self) -> Decimal:
        """The sum over items of quantity times unit price."""
        return sum((item.subtotal for item in self.items), Decimal("0.00"))

    @property
    def points(self) -> int:
        """Rewards points: whole units of the total (25.99 → 25)."""
        return int(self.total.to_integral_value(rounding=ROUND_FLOOR))

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON shape (camelCase, prices as strings): `spec.order`."""
        address: dict[str, str] = {
            "line1": self.shipping_address.line1,
            "city": self.shipping_address.city,
            "postalCode": self.shipping_address.postal_code,
            "country": self.shipping_address.country,
        }
        if self.shipping_address.line2:
            address["line2"] = self.shipping_address.line2
        if self.shipping_address.region:
            address["region"] = self.shipping_address.region
        return {
            "id": self.id,
            "customer": {
                "name": self.customer.name,
                "email": self.customer.email,
                "rewardsMember": self.customer.rewards_member,
            },
            "currency": self.currency,
            "items": [
                {"sku": i.sku, "quantity": i.quantity, "unitPrice": str(i.unit_price)}
                for i in self.items
            ],
            "shippingAddress": address,
        }

    @classmethod
    def from_json(cls, data: object) -> Order:
        """Parse and check `spec.order`; defaults as in the CRD. Raises InvalidOrder."""
        order = _object(data, "order")
        customer = _object(order.get("customer"), "order.customer")
        raw_items = order.get("items")
        if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_ITEMS:
            raise InvalidOrder(f"order.items: must be a list of 1 to {MAX_ITEMS} items")
        address = _object(order.get("shippingAddress"), "order.shippingAddress")
        rewards = customer.get("rewardsMember", False)
        if not isinstance(rewards, bool):
            raise InvalidOrder("order.customer.rewardsMember: must be true or false")
        return cls(
            id=_string(order, "id", "order", ORDER_ID),
            customer=Customer(
                name=_string(customer, "name", "order.customer", longest=200),
                email=_string(customer, "email", "order.customer", EMAIL, longest=254),
                rewards_member=rewards,
            ),
            currency=_string(order, "currency", "order", CURRENCY, default="USD"),
            items=tuple(_item(raw, f"order.items[{n}]") for n, raw in enumerate(raw_items)),
            shipping_address=Address(
                line1=_string(address, "line1", "order.shippingAddress", longest=200),
                city=_string(address, "city", "order.shippingAddress", longest=100),
                postal_code=_string(address, "postalCode", "order.shippingAddress", longest=20),
                country=_string(address, "country", "order.shippingAddress", COUNTRY),
                line2=_string(address, "line2", "order.shippingAddress", default="", longest=200),
                region=_string(address, "region", "order.shippingAddress", default="", longest=100),
            ),
        )


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidOrder(f"{path}: must be an object")
    return value


def _string(
    parent: dict[str, Any],
    key: str,
    path: str,
    pattern: re.Pattern[str] | None = None,
    default: str | None = None,
    longest: int | None = None,
) -> str:
    """The string at `parent[key]`, checked as the CRD checks it: present (unless it has a
    default), not empty when required, at most `longest` characters, free of control characters,
    matching `pattern`."""
    value = parent.get(key, default)
    if value is None:
        raise InvalidOrder(f"{path}.{key}: required")
    if not isinstance(value, str):
        raise InvalidOrder(f"{path}.{key}: must be a string")
    if default is None and not value:
        raise InvalidOrder(f"{path}.{key}: must not be empty")
    if longest is not None and len(value) > longest:
        raise InvalidOrder(f"{path}.{key}: must be at most {longest} characters, got {len(value)}")
    if CONTROL.search(value):
        raise InvalidOrder(
            f"{path}.{key}: must not contain control characters (line breaks, tabs and the like)"
        )
    if not _encodable(value):
        # JSON can carry half of a UTF-16 surrogate pair; no text encoding can write it.
        raise InvalidOrder(f"{path}.{key}: is not valid Unicode text (a lone surrogate)")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidOrder(f"{path}.{key}: {value!r} does not match {pattern.pattern}")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _item(raw: object, path: str) -> Item:
    item = _object(raw, path)
    quantity = item.get("quantity")
    # bool is an int in Python; JSON true is not a quantity.
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise InvalidOrder(f"{path}.quantity: must be an integer")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(f"{path}.quantity: must be 1 to {MAX_QUANTITY}, got {quantity}")
    return Item(
        sku=_string(item, "sku", path, longest=64),
        quantity=quantity,
        unit_price=Decimal(_string(item, "unitPrice", path, PRICE)),
    )
