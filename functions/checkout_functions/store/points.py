"""The rewards function's tables and query: a running balance per customer, and one credit per
order with the balance it left."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, Table, func, select, update

from checkout_functions.store.database import EMAIL_ADDRESS, ORDER_ID, Queries, metadata, now, utc

reward_accounts = Table(
    "reward_accounts",
    metadata,
    Column("email", EMAIL_ADDRESS, primary_key=True),
    Column("balance", BigInteger, nullable=False),
)
"""A customer's points, kept as a running sum so concurrent credits add up in the database."""

reward_credits = Table(
    "reward_credits",
    metadata,
    Column("order_id", ORDER_ID, primary_key=True),
    Column("email", EMAIL_ADDRESS, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    # Written by the query (see database.now); the server default is for rows written before.
    Column("credited_at", DateTime, nullable=False, server_default=func.now()),
)
"""One credit per order, with the balance it left, so a repeated event gets the same reply."""

TABLES = (reward_accounts, reward_credits)


@dataclass(frozen=True)
class Credit:
    """An order's credit, as recorded."""

    email: str
    """The ledger key it went to."""
    points: int
    balance: int
    """The customer's balance right after it."""
    credited_at: datetime.datetime
    """When it was recorded (UTC): the time of the reply every repeat gets."""
    new: bool
    """False when the order had been credited before (nothing was added this time)."""


class Points(Queries):
    """The queries of the rewards function."""

    tables = TABLES

    def credit(self, order_id: str, email: str, points: int) -> Credit:
        """Credit `points` to `email` once for this order, in one transaction: the credit row
        (keyed by order id) first, so a duplicate stops there and gets the credit recorded
        before; then the account, incremented in SQL so that concurrent credits of one customer
        all count."""
        at = now()
        credit = {"order_id": order_id, "email": email, "points": points, "balance_after": 0}
        with self.database.transaction() as connection:
            if not self.database.inserted(
                connection, reward_credits, {**credit, "credited_at": at}
            ):
                row = connection.execute(
                    select(reward_credits).where(reward_credits.c.order_id == order_id)
                ).one()
                return Credit(
                    row.email, row.points, row.balance_after, utc(row.credited_at), new=False
                )
            upsert = self.database.insert(reward_accounts).values(email=email, balance=points)
            balance: int = connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=[reward_accounts.c.email],
                    set_={"balance": reward_accounts.c.balance + upsert.excluded.balance},
                ).returning(reward_accounts.c.balance)
            ).scalar_one()
            connection.execute(
                update(reward_credits)
                .where(reward_credits.c.order_id == order_id)
                .values(balance_after=balance)
            )
            return Credit(email, points, balance, utc(at), new=True)
