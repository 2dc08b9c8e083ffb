"""The rewards function (step `rewards`): credits a member the whole units of the order's total,
once per order, on a ledger keyed by the customer's email."""

from __future__ import annotations

from checkout_core import steps
from checkout_core.order import Order
from checkout_functions.errors import ConflictingRepeat, Refusal
from checkout_functions.runtime import Function, Served
from checkout_functions.settings import Settings
from checkout_functions.store.database import Database
from checkout_functions.store.points import Points


def account(email: str) -> str:
    """The ledger key of an address: mail systems treat addresses case-insensitively in
    practice, so Ada@Example.com and ada@example.com are one customer."""
    return email.strip().lower()


def function(settings: Settings, database: Database) -> Function:
    points = Points(database)
    points.create()

    def handle(order: Order) -> Served:
        customer = order.customer
        if not customer.rewards_member:
            raise Refusal(
                "NotARewardsMember",
                f"{customer.email} is not a rewards member; no points were credited",
            )
        ledger = account(customer.email)
        credit = points.credit(order.id, ledger, order.points)
        differs = [
            name
            for name, same in [
                ("order.customer.email", credit.email == ledger),
                ("order.items (the points of its total)", credit.points == order.points),
            ]
            if not same
        ]
        if differs:
            raise ConflictingRepeat(
                order.id,
                f"credited {credit.points} points to {credit.email}",
                f"{order.points} points to {ledger}",
                " and ".join(differs),
            )
        return Served({"points": credit.points, "balance": credit.balance}, credit.credited_at)

    return Function(steps.BY_FUNCTION["rewards"], handle, (database.ping,))
