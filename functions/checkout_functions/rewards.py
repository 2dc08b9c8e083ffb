"""The rewards function (step `rewards`): credits a member the whole units of the order's total,
once per order, on a ledger keyed by the customer's email."""

from __future__ import annotations

from typing import Any

from checkout_core import steps
from checkout_core.order import Order
from checkout_functions.errors import Refusal
from checkout_functions.runtime import Function
from checkout_functions.settings import Settings
from checkout_functions.store import REWARDS_TABLES, Store


def account(email: str) -> str:
    """The ledger key of an address: mail systems treat addresses case-insensitively in
    practice, so Ada@Example.com and ada@example.com are one customer."""
    return email.strip().lower()


def function(settings: Settings, store: Store) -> Function:
    store.create(REWARDS_TABLES)

    def handle(order: Order) -> dict[str, Any]:
        customer = order.customer
        if not customer.rewards_member:
            raise Refusal(
                "NotARewardsMember",
                f"{customer.email} is not a rewards member; no points were credited",
            )
        credit = store.credit_points(order.id, account(customer.email), order.points)
        return {"points": credit.points, "balance": credit.balance}

    return Function(steps.BY_FUNCTION["rewards"], handle, (store.ping,))
