"""The functions' tables and every query they make, on SQLite or PostgreSQL (SQLAlchemy 2.x).
Idempotency lives in the database: each side effect is keyed by the order id and claimed by an
INSERT that only one request can win (ON CONFLICT DO NOTHING), never by checking first."""

from __future__ import annotations

import enum
import math
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql.dml import Insert

from checkout_functions.errors import Unavailable

ORDER_ID = String(64)
EMAIL_ADDRESS = String(320)

metadata = MetaData()

emails = Table(
    "confirmation_emails",
    metadata,
    Column("order_id", ORDER_ID, primary_key=True),
    Column("message_id", String(255), nullable=False),
    Column("recipient", EMAIL_ADDRESS, nullable=False),
    Column("state", String(16), nullable=False),
    # Seconds since the epoch, as a float: compared with a cutoff in SQL, the same way on SQLite
    # (which has no real timestamp type) and PostgreSQL.
    Column("claimed_at", Float, nullable=False),
    Column("claim", String(32), nullable=False),
    Column("reason", String(64), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
)
"""One row per order: claimed by the request that sends it, then sent or refused."""

shipments = Table(
    "warehouse_shipments",
    metadata,
    Column("order_id", ORDER_ID, primary_key=True),
    Column("shipment_id", String(36), nullable=False),
    Column("country", String(2), nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
)
"""One shipment per order."""

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
    Column("credited_at", DateTime, nullable=False, server_default=func.now()),
)
"""One credit per order, with the balance it left, so a repeated event gets the same reply."""

EMAIL_TABLES = (emails,)
SHIPMENT_TABLES = (shipments,)
REWARDS_TABLES = (reward_accounts, reward_credits)


class EmailState(enum.Enum):
    CLAIMED = "claimed"
    SENT = "sent"
    REFUSED = "refused"


@dataclass(frozen=True)
class EmailClaim:
    """What claiming an order's email found."""

    state: EmailState
    message_id: str
    token: str
    """The claim's token; when `owned`, the caller sends and then settles with it."""
    owned: bool
    """True when this request holds the claim: a new one, or a stale one taken over."""
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Credit:
    points: int
    balance: int
    new: bool
    """False when the order had been credited before (nothing was added this time)."""


def engine_for(url: str, timeout: float) -> Engine:
    """An engine for SQLite or PostgreSQL; `timeout` bounds connecting and waiting for locks."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": timeout}, pool_timeout=timeout)

        @event.listens_for(engine, "connect")
        def write_ahead_log(connection: Any, record: Any) -> None:
            # WAL lets readers go on while one writer writes; the three functions share the file.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            # psycopg (3) is the driver we ship; SQLAlchemy's default for the bare name is psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_timeout=timeout,
            connect_args={"connect_timeout": max(1, math.ceil(timeout))},
        )
    raise ValueError(f"DATABASE_URL: {backend!r} is not supported; use sqlite or postgresql")


class Store:
    def __init__(self, url: str, timeout: float) -> None:
        self.engine = engine_for(url, timeout)
        self._dialect = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def create(self, tables: Sequence[Table]) -> None:
        """Create the tables that do not exist yet."""
        for attempt in range(3):
            try:
                metadata.create_all(self.engine, tables=list(tables))
                return
            except (IntegrityError, ProgrammingError):
                # Another replica created the same table at the same moment (PostgreSQL reports
                # a duplicate type); the next pass finds it there.
                if attempt == 2:
                    raise

    def ping(self) -> None:
        """Raise Unavailable unless the database answers `SELECT 1`."""
        with self._outage(), self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def _outage(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError, PoolTimeout) as error:
            cause = getattr(error, "orig", None) or error
            raise Unavailable(f"database unavailable: {str(cause).strip()}") from error

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """INSERT in the dialect's own form, which knows ON CONFLICT."""
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_new(self, table: Table, **values: Any) -> Insert:
        """INSERT that does nothing when the primary key exists; RETURNING tells who won."""
        key = [c.name for c in table.primary_key.columns]
        return (
            self._insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=key)
            .returning(*table.primary_key.columns)
        )

    # -- confirmation ----------------------------------------------------------------------------

    def claim_email(
        self, order_id: str, message_id: str, recipient: str, lease: float
    ) -> EmailClaim:
        """Claim the order's email for this request, or say who has it and how far it got. A
        claim older than `lease` seconds is from a sender that died before settling it: the
        first request to see it takes it over (one UPDATE guarded by the cutoff, so only one)."""
        with self._outage():
            # A claim released between our INSERT and our SELECT leaves no row; claim again.
            for _ in range(3):
                token = uuid.uuid4().hex
                now = time.time()
                with self.engine.begin() as connection:
                    won = connection.execute(
                        self._insert_new(
                            emails,
                            order_id=order_id,
                            message_id=message_id,
                            recipient=recipient,
                            state=EmailState.CLAIMED.value,
                            claimed_at=now,
                            claim=token,
                        )
                    ).first()
                    if won is not None:
                        return EmailClaim(EmailState.CLAIMED, message_id, token, owned=True)
                    taken = connection.execute(
                        update(emails)
                        .where(
                            emails.c.order_id == order_id,
                            emails.c.state == EmailState.CLAIMED.value,
                            emails.c.claimed_at < now - lease,
                        )
                        .values(claim=token, claimed_at=now, updated_at=func.now())
                        .returning(emails.c.message_id)
                    ).first()
                    if taken is not None:
                        return EmailClaim(EmailState.CLAIMED, taken.message_id, token, owned=True)
                    row = connection.execute(
                        select(emails).where(emails.c.order_id == order_id)
                    ).first()
                if row is not None:
                    return EmailClaim(
                        EmailState(row.state),
                        row.message_id,
                        row.claim,
                        owned=False,
                        reason=row.reason,
                        detail=row.detail,
                    )
        raise Unavailable(f"the email of order {order_id} is being claimed and released")

    def email_sent(self, order_id: str, token: str) -> bool:
        """Settle a claim as sent; False if the claim was taken over meanwhile."""
        return self._settle(order_id, token, state=EmailState.SENT.value)

    def email_refused(self, order_id: str, token: str, reason: str, detail: str) -> bool:
        """Settle a claim as refused for good, so repeats get the same refusal."""
        return self._settle(
            order_id, token, state=EmailState.REFUSED.value, reason=reason, detail=detail
        )

    def release_email(self, order_id: str, token: str) -> None:
        """Give a claim up (the send failed for now), so that a retry can claim it at once."""
        with self._outage(), self.engine.begin() as connection:
            connection.execute(
                emails.delete().where(
                    emails.c.order_id == order_id,
                    emails.c.claim == token,
                    emails.c.state == EmailState.CLAIMED.value,
                )
            )

    def _settle(self, order_id: str, token: str, **values: str) -> bool:
        with self._outage(), self.engine.begin() as connection:
            result = connection.execute(
                update(emails)
                .where(emails.c.order_id == order_id, emails.c.claim == token)
                .values(**values, updated_at=func.now())
                .returning(emails.c.order_id)
            )
            return result.first() is not None

    # -- warehouse -------------------------------------------------------------------------------

    def record_shipment(self, order_id: str, shipment_id: str, country: str) -> tuple[str, bool]:
        """The order's shipment id, and whether this call created the shipment."""
        with self._outage(), self.engine.begin() as connection:
            won = connection.execute(
                self._insert_new(
                    shipments, order_id=order_id, shipment_id=shipment_id, country=country
                )
            ).first()
            if won is not None:
                return shipment_id, True
            existing: str = connection.execute(
                select(shipments.c.shipment_id).where(shipments.c.order_id == order_id)
            ).scalar_one()
            return existing, False

    # -- rewards ---------------------------------------------------------------------------------

    def credit_points(self, order_id: str, email: str, points: int) -> Credit:
        """Credit `points` to `email` once for this order, in one transaction: the credit row
        (keyed by order id) first, so a duplicate stops there; then the account, incremented in
        SQL so that concurrent credits of one customer all count."""
        with self._outage(), self.engine.begin() as connection:
            won = connection.execute(
                self._insert_new(
                    reward_credits, order_id=order_id, email=email, points=points, balance_after=0
                )
            ).first()
            if won is None:
                row = connection.execute(
                    select(reward_credits.c.points, reward_credits.c.balance_after).where(
                        reward_credits.c.order_id == order_id
                    )
                ).one()
                return Credit(row.points, row.balance_after, new=False)
            upsert = self._insert(reward_accounts).values(email=email, balance=points)
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
            return Credit(points, balance, new=True)
