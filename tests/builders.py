"""The orders and Checkouts tests are made of, built in one place: the contract's shape with
sensible values, and what a test wants different."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any

from checkout_core.api import API_VERSION, CHECKOUT_KIND

Body = dict[str, Any]

ORDER: Body = {
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
"""A valid order as `spec.order` holds it (and `order.placed` carries it)."""


def new_id(prefix: str = "o") -> str:
    """An id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def order_id() -> str:
    return uuid.uuid4().hex[:12]


def order_with(**changes: Any) -> Body:
    """ORDER with the fields at `a__b__0__c` paths set to new values (None removes one)."""
    data = copy.deepcopy(ORDER)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        at: Any = int(last) if isinstance(node, list) else last
        if value is None:
            del node[at]
        else:
            node[at] = value
    return data


def order(
    order_id: str | None = None,
    *,
    email: str | None = None,
    member: bool = True,
    country: str = "GB",
    prices: Sequence[str] = ("12.99",),
    quantity: int = 2,
) -> Body:
    """An order of `quantity` of one item per price, to `email` (by default one of its own)."""
    order_id = order_id or new_id()
    data = order_with(id=order_id, customer__email=email or f"{order_id}@example.com")
    data["customer"]["rewardsMember"] = member
    data["shippingAddress"]["country"] = country
    data["items"] = [
        {"sku": f"SKU-{n}", "quantity": quantity, "unitPrice": price}
        for n, price in enumerate(prices)
    ]
    return data


def resource(kind: str, name: str, **spec: Any) -> Body:
    """An object of our group: its kind, its name and its spec."""
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def checkout(
    name: str, order_id: str, email: str, member: bool, prices: Sequence[str], **spec: Any
) -> Body:
    """A Checkout named `name` of an order of one of each price; `spec` adds mode, strategy..."""
    placed = order(order_id, email=email, member=member, prices=prices, quantity=1)
    return resource(CHECKOUT_KIND, name, order=placed, **spec)
