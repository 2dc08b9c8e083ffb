"""The functions' queries on a real SQLite file: claims and their lease, one shipment and one
credit per order, balances that add up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from checkout_functions.errors import Unavailable
from checkout_functions.store import (
    EMAIL_TABLES,
    REWARDS_TABLES,
    SHIPMENT_TABLES,
    EmailState,
    Store,
    emails,
    engine_for,
    reward_credits,
)

LEASE = 60.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'functions.db'}", timeout=5)
    store.create([*EMAIL_TABLES, *SHIPMENT_TABLES, *REWARDS_TABLES])
    yield store
    store.close()


def age_claim(store: Store, order_id: str, seconds: float) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            update(emails)
            .where(emails.c.order_id == order_id)
            .values(claimed_at=emails.c.claimed_at - seconds)
        )


def test_the_first_claim_owns_the_email_and_later_ones_see_it_in_flight(store: Store) -> None:
    first = store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert first.owned and first.state is EmailState.CLAIMED
    second = store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert not second.owned
    assert second.state is EmailState.CLAIMED


def test_once_sent_every_claim_finds_it_sent_with_the_same_message_id(store: Store) -> None:
    first = store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert store.email_sent("1001", first.token)
    again = store.claim_email("1001", "<other@x>", "ada@example.com", LEASE)
    assert (again.owned, again.state, again.message_id) == (
        False,
        EmailState.SENT,
        "<order-1001@x>",
    )


def test_a_stale_claim_is_taken_over_once_and_the_old_sender_loses_it(store: Store) -> None:
    crashed = store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE)
    age_claim(store, "1001", LEASE + 1)
    taker = store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert taker.owned and taker.token != crashed.token
    late = store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE)
    assert not late.owned
    assert not store.email_sent("1001", crashed.token)
    assert store.email_sent("1001", taker.token)


def test_a_released_claim_can_be_claimed_again_at_once(store: Store) -> None:
    first = store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE)
    store.release_email("1001", first.token)
    assert store.claim_email("1001", "<order-1001@x>", "ada@example.com", LEASE).owned


def test_a_refusal_is_kept_with_its_reason(store: Store) -> None:
    first = store.claim_email("1001", "<order-1001@x>", "nobody@example.com", LEASE)
    assert store.email_refused("1001", first.token, "RecipientRefused", "550 no such user")
    again = store.claim_email("1001", "<order-1001@x>", "nobody@example.com", LEASE)
    assert (again.state, again.reason, again.detail) == (
        EmailState.REFUSED,
        "RecipientRefused",
        "550 no such user",
    )


def test_one_shipment_per_order(store: Store) -> None:
    assert store.record_shipment("1001", "s-1", "GB") == ("s-1", True)
    assert store.record_shipment("1001", "s-2", "GB") == ("s-1", False)
    assert store.record_shipment("1002", "s-3", "FR") == ("s-3", True)


def test_credits_add_up_per_customer_and_an_order_counts_once(store: Store) -> None:
    first = store.credit_points("1001", "ada@example.com", 25)
    assert (first.points, first.balance, first.new) == (25, 25, True)
    second = store.credit_points("1002", "ada@example.com", 12)
    assert (second.points, second.balance, second.new) == (12, 37, True)
    repeat = store.credit_points("1001", "ada@example.com", 25)
    assert (repeat.points, repeat.balance, repeat.new) == (25, 25, False)
    other = store.credit_points("1003", "bob@example.com", 5)
    assert other.balance == 5
    with store.engine.connect() as connection:
        credits = connection.execute(select(func.count()).select_from(reward_credits)).scalar()
    assert credits == 3


def test_an_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'missing' / 'functions.db'}", timeout=1)
    with pytest.raises(Unavailable, match="database unavailable"):
        store.ping()


def test_only_sqlite_and_postgresql_are_supported() -> None:
    with pytest.raises(ValueError, match="mysql"):
        engine_for("mysql://shop@localhost/shop", 1)
