"""The confirmation function's table and queries: one email per order, claimed before it is sent,
kept claimed while it is sent, then settled as sent or refused."""

from __future__ import annotations

import datetime
import enum
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from checkout_functions.errors import Unavailable
from checkout_functions.logs import LOGGER
from checkout_functions.store.database import EMAIL_ADDRESS, ORDER_ID, Queries, metadata, now, utc

log = logging.getLogger(LOGGER)

confirmation_emails = Table(
    "confirmation_emails",
    metadata,
    Column("order_id", ORDER_ID, primary_key=True),
    Column("message_id", String(255), nullable=False),
    Column("recipient", EMAIL_ADDRESS, nullable=False),
    Column("state", String(16), nullable=False),
    # Seconds since the epoch, as a float: compared with a cutoff in SQL, the same way on SQLite
    # (which has no real timestamp type) and PostgreSQL. Renewed while the sender works.
    Column("claimed_at", Float, nullable=False),
    Column("claim", String(32), nullable=False),
    Column("reason", String(64), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    # When the row last changed state; once sent or refused, the time of the reply that every
    # repeat gets. Written by every query (see database.now); the server default is for rows
    # written before they did.
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
)
"""One row per order: claimed by the request that sends it, then sent or refused."""

TABLES = (confirmation_emails,)


class EmailState(enum.Enum):
    CLAIMED = "claimed"
    SENT = "sent"
    REFUSED = "refused"


@dataclass(frozen=True)
class EmailClaim:
    """What claiming an order's email found."""

    state: EmailState
    message_id: str
    recipient: str
    """Who the email is (or was) for: this request's recipient when `owned`, else the row's."""
    token: str
    """The claim's token; when `owned`, the caller sends and then settles with it."""
    owned: bool
    """True when this request holds the claim: a new one, or a stale one taken over."""
    at: datetime.datetime
    """When the row last changed state (UTC): for a sent or refused email, when that was."""
    reason: str = ""
    detail: str = ""


class Emails(Queries):
    """The queries of the confirmation function."""

    tables = TABLES

    def claim(self, order_id: str, message_id: str, recipient: str, lease: float) -> EmailClaim:
        """Claim the order's email for this request, or say who has it and how far it got. A
        claim not renewed for `lease` seconds is from a sender that died before settling it:
        the first request for the same recipient to see it takes it over (one UPDATE guarded by
        the cutoff, so only one). A request for another recipient takes nothing over; it learns
        whom the order's email is for."""
        table = confirmation_emails
        with self.database.outage():
            # A claim released between our INSERT and our SELECT leaves no row; claim again.
            for _ in range(3):
                token = uuid.uuid4().hex
                epoch, at = time.time(), now()
                claim = dict(
                    order_id=order_id,
                    message_id=message_id,
                    recipient=recipient,
                    state=EmailState.CLAIMED.value,
                    claimed_at=epoch,
                    claim=token,
                    updated_at=at,
                )
                with self.database.engine.begin() as connection:
                    if self.database.inserted(connection, table, claim):
                        return EmailClaim(
                            EmailState.CLAIMED, message_id, recipient, token, True, utc(at)
                        )
                    taken = connection.execute(
                        update(table)
                        .where(
                            table.c.order_id == order_id,
                            table.c.state == EmailState.CLAIMED.value,
                            table.c.recipient == recipient,
                            table.c.claimed_at < epoch - lease,
                        )
                        .values(claim=token, claimed_at=epoch, updated_at=at)
                        .returning(table.c.message_id)
                    ).first()
                    if taken is not None:
                        return EmailClaim(
                            EmailState.CLAIMED, taken.message_id, recipient, token, True, utc(at)
                        )
                    row = connection.execute(
                        select(table).where(table.c.order_id == order_id)
                    ).first()
                if row is not None:
                    return EmailClaim(
                        EmailState(row.state),
                        row.message_id,
                        row.recipient,
                        row.claim,
                        owned=False,
                        at=utc(row.updated_at),
                        reason=row.reason,
                        detail=row.detail,
                    )
        raise Unavailable(f"the email of order {order_id} is being claimed and released")

    @contextmanager
    def renewing(self, order_id: str, token: str, lease: float) -> Iterator[None]:
        """Keep the claim fresh while the block runs: a thread moves its `claimed_at` forward
        every third of `lease`, so that however long a live sender takes, nobody takes its claim
        over; when the sender dies, the renewals stop with it and the claim goes stale within
        `lease`. Renewal stops by itself once the claim is no longer this sender's (settled,
        released or taken over)."""
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew,
            args=(order_id, token, lease / 3, stop),
            name=f"renew-claim-{order_id}",
            daemon=True,
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()

    def _renew(self, order_id: str, token: str, interval: float, stop: threading.Event) -> None:
        # One connection for the whole send, so that a renewal waits for nothing but the write
        # itself (at most DATABASE_TIMEOUT_SECONDS), not for a connection from the pool too.
        connection: Connection | None = None
        try:
            while not stop.wait(interval):
                try:
                    if connection is None:
                        connection = self.database.engine.connect()
                    if not self._renewed(connection, order_id, token):
                        return
                except SQLAlchemyError as error:
                    # The next renewal may get through: the lease leaves room for a missed one
                    # when the database answers within DATABASE_TIMEOUT_SECONDS.
                    log.warning(
                        "could not renew the claim on an email: %s",
                        error,
                        extra={"orderId": order_id},
                    )
                    if connection is not None:
                        connection.invalidate()
                        connection.close()
                        connection = None
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    def _renewed(connection: Connection, order_id: str, token: str) -> bool:
        table = confirmation_emails
        with connection.begin():
            return (
                connection.execute(
                    update(table)
                    .where(
                        table.c.order_id == order_id,
                        table.c.claim == token,
                        table.c.state == EmailState.CLAIMED.value,
                    )
                    .values(claimed_at=time.time())
                    .returning(table.c.order_id)
                ).first()
                is not None
            )

    def sent(self, order_id: str, token: str) -> datetime.datetime | None:
        """Settle a claim as sent: when that was (UTC), or None if the claim was taken over
        meanwhile."""
        return self._settle(order_id, token, state=EmailState.SENT.value)

    def refused(
        self, order_id: str, token: str, reason: str, detail: str
    ) -> datetime.datetime | None:
        """Settle a claim as refused for good, so repeats get the same refusal: when that was
        (UTC), or None if the claim was taken over meanwhile."""
        return self._settle(
            order_id, token, state=EmailState.REFUSED.value, reason=reason, detail=detail
        )

    def release(self, order_id: str, token: str) -> None:
        """Give a claim up (the send failed for now), so that a retry can claim it at once."""
        table = confirmation_emails
        with self.database.transaction() as connection:
            connection.execute(
                table.delete().where(
                    table.c.order_id == order_id,
                    table.c.claim == token,
                    table.c.state == EmailState.CLAIMED.value,
                )
            )

    def _settle(self, order_id: str, token: str, **values: str) -> datetime.datetime | None:
        table = confirmation_emails
        at = now()
        with self.database.transaction() as connection:
            result = connection.execute(
                update(table)
                .where(table.c.order_id == order_id, table.c.claim == token)
                .values(**values, updated_at=at)
                .returning(table.c.order_id)
            )
            return utc(at) if result.first() is not None else None
