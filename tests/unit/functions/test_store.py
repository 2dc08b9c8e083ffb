"""The functions' queries on a real SQLite file: claims, their lease and its renewal, one shipment
and one credit per order, balances that add up, and the time of the work as stored."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from checkout_functions.errors import Unavailable
from checkout_functions.store.database import Database, engine_for, utc
from checkout_functions.store.emails import Emails, EmailState, confirmation_emails
from checkout_functions.store.points import Points, reward_credits
from checkout_functions.store.shipments import Shipments, warehouse_shipments

LEASE = 60.0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'functions.db'}", timeout=5)
    yield database
    database.close()


@pytest.fixture
def emails(database: Database) -> Emails:
    emails = Emails(database)
    emails.create()
    return emails


@pytest.fixture
def shipments(database: Database) -> Shipments:
    shipments = Shipments(database)
    shipments.create()
    return shipments


@pytest.fixture
def points(database: Database) -> Points:
    points = Points(database)
    points.create()
    return points


def age_claim(database: Database, order_id: str, seconds: float) -> None:
    table = confirmation_emails
    with database.engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.order_id == order_id)
            .values(claimed_at=table.c.claimed_at - seconds)
        )


def test_the_first_claim_owns_the_email_and_later_ones_see_it_in_flight(emails: Emails) -> None:
    first = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert first.owned and first.state is EmailState.CLAIMED
    second = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert not second.owned
    assert second.state is EmailState.CLAIMED


def test_once_sent_every_claim_finds_it_sent_with_the_same_message_id(emails: Emails) -> None:
    first = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert emails.sent("1001", first.token) is not None
    again = emails.claim("1001", "<other@x>", "ada@example.com", LEASE)
    assert (again.owned, again.state, again.message_id, again.recipient) == (
        False,
        EmailState.SENT,
        "<order-1001@x>",
        "ada@example.com",
    )


def test_a_repeat_learns_when_the_email_was_sent_to_the_microsecond(emails: Emails) -> None:
    before = datetime.datetime.now(datetime.UTC)
    first = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    sent_at = emails.sent("1001", first.token)
    assert sent_at is not None and sent_at.tzinfo is datetime.UTC
    assert before <= sent_at <= datetime.datetime.now(datetime.UTC)
    again = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert again.at == sent_at


def test_a_stale_claim_is_taken_over_once_and_the_old_sender_loses_it(
    emails: Emails, database: Database
) -> None:
    crashed = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    age_claim(database, "1001", LEASE + 1)
    taker = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert taker.owned and taker.token != crashed.token
    late = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert not late.owned
    assert emails.sent("1001", crashed.token) is None
    assert emails.sent("1001", taker.token) is not None


def test_a_stale_claim_is_not_taken_over_for_another_recipient(
    emails: Emails, database: Database
) -> None:
    emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    age_claim(database, "1001", LEASE + 1)
    other = emails.claim("1001", "<order-1001@x>", "bob@example.com", LEASE)
    assert (other.owned, other.state, other.recipient) == (
        False,
        EmailState.CLAIMED,
        "ada@example.com",
    )


def test_a_renewed_claim_outlives_its_lease_and_goes_stale_once_renewal_stops(
    emails: Emails,
) -> None:
    lease = 1.0
    sender = emails.claim("1001", "<order-1001@x>", "ada@example.com", lease)
    with emails.renewing("1001", sender.token, lease):
        # A live sender, working for several leases: nobody takes its claim over.
        deadline = time.monotonic() + 3 * lease
        while time.monotonic() < deadline:
            assert not emails.claim("1001", "<order-1001@x>", "ada@example.com", lease).owned
            time.sleep(lease / 6)
    # The sender is gone (its renewals stopped with it): within a lease the claim is free.
    time.sleep(lease * 1.2)
    taker = emails.claim("1001", "<order-1001@x>", "ada@example.com", lease)
    assert taker.owned and taker.token != sender.token


def test_renewal_stops_by_itself_once_the_claim_is_settled(emails: Emails) -> None:
    lease = 0.3
    sender = emails.claim("1001", "<order-1001@x>", "ada@example.com", lease)
    started = time.monotonic()
    with emails.renewing("1001", sender.token, lease):
        assert emails.sent("1001", sender.token) is not None
        time.sleep(lease)
    assert time.monotonic() - started < lease + 1
    assert emails.claim("1001", "<order-1001@x>", "ada@example.com", lease).state is (
        EmailState.SENT
    )


def test_a_released_claim_can_be_claimed_again_at_once(emails: Emails) -> None:
    first = emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE)
    emails.release("1001", first.token)
    assert emails.claim("1001", "<order-1001@x>", "ada@example.com", LEASE).owned


def test_a_refusal_is_kept_with_its_reason_and_time(emails: Emails) -> None:
    first = emails.claim("1001", "<order-1001@x>", "nobody@example.com", LEASE)
    refused_at = emails.refused("1001", first.token, "RecipientRefused", "550 no such user")
    assert refused_at is not None
    again = emails.claim("1001", "<order-1001@x>", "nobody@example.com", LEASE)
    assert (again.state, again.reason, again.detail, again.at) == (
        EmailState.REFUSED,
        "RecipientRefused",
        "550 no such user",
        refused_at,
    )


def test_one_shipment_per_order_and_a_repeat_gets_the_one_recorded(shipments: Shipments) -> None:
    first = shipments.record("1001", "s-1", "GB")
    assert (first.shipment_id, first.country, first.new) == ("s-1", "GB", True)
    repeat = shipments.record("1001", "s-2", "FR")
    assert (repeat.shipment_id, repeat.country, repeat.new) == ("s-1", "GB", False)
    assert repeat.created_at == first.created_at
    assert first.created_at.tzinfo is datetime.UTC
    assert shipments.record("1002", "s-3", "FR").shipment_id == "s-3"


def test_credits_add_up_per_customer_and_an_order_counts_once(
    points: Points, database: Database
) -> None:
    first = points.credit("1001", "ada@example.com", 25)
    assert (first.points, first.balance, first.new) == (25, 25, True)
    second = points.credit("1002", "ada@example.com", 12)
    assert (second.points, second.balance, second.new) == (12, 37, True)
    repeat = points.credit("1001", "bob@example.com", 30)
    assert (repeat.email, repeat.points, repeat.balance, repeat.new) == (
        "ada@example.com",
        25,
        25,
        False,
    )
    assert repeat.credited_at == first.credited_at
    other = points.credit("1003", "bob@example.com", 5)
    assert other.balance == 5
    with database.engine.connect() as connection:
        credits = connection.execute(select(func.count()).select_from(reward_credits)).scalar()
    assert credits == 3


def test_a_row_written_with_the_servers_clock_reads_as_utc(shipments: Shipments) -> None:
    # Rows from before the functions wrote their timestamps themselves carry the default.
    with shipments.database.engine.begin() as connection:
        connection.execute(
            insert(warehouse_shipments).values(order_id="1001", shipment_id="s-1", country="GB")
        )
    recorded = shipments.record("1001", "s-1", "GB")
    assert not recorded.new
    assert recorded.created_at.tzinfo is datetime.UTC
    assert abs(recorded.created_at - datetime.datetime.now(datetime.UTC)).total_seconds() < 60


def test_utc_reads_naive_times_as_utc_and_converts_aware_ones() -> None:
    naive = datetime.datetime(2026, 1, 1, 10, 0, 0, 123456)
    assert utc(naive) == naive.replace(tzinfo=datetime.UTC)
    zone = datetime.timezone(datetime.timedelta(hours=2))
    assert utc(datetime.datetime(2026, 1, 1, 12, tzinfo=zone)) == datetime.datetime(
        2026, 1, 1, 10, tzinfo=datetime.UTC
    )


def test_an_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'missing' / 'functions.db'}", timeout=1)
    with pytest.raises(Unavailable, match="database unavailable"):
        database.ping()


def test_only_sqlite_and_postgresql_are_supported() -> None:
    with pytest.raises(ValueError, match="mysql"):
        engine_for("mysql://shop@localhost/shop", 1)
