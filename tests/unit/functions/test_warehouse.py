"""The warehouse's shipment ids and served countries, and the rewards ledger's key."""

from __future__ import annotations

import uuid

import pytest

from checkout_functions import rewards, warehouse
from checkout_functions.errors import Refusal


def test_shipment_id_is_a_uuid_stable_per_order() -> None:
    first = warehouse.shipment_id("1001")
    assert uuid.UUID(first).version == 5
    assert warehouse.shipment_id("1001") == first
    assert warehouse.shipment_id("1002") != first


def test_every_country_is_served_when_none_is_listed() -> None:
    warehouse.check_country("FR", frozenset())


def test_a_listed_country_is_served() -> None:
    warehouse.check_country("GB", frozenset({"GB", "IE"}))


def test_an_unlisted_country_is_refused_naming_what_is_served() -> None:
    with pytest.raises(Refusal) as refused:
        warehouse.check_country("FR", frozenset({"IE", "GB"}))
    assert refused.value.reason == "CountryNotServed"
    assert "FR" in refused.value.message
    assert "GB, IE" in refused.value.message


def test_the_ledger_key_ignores_case_and_surrounding_space() -> None:
    assert rewards.account(" Ada@Example.COM ") == "ada@example.com"
