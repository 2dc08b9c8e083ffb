"""Trigger readiness in memory: what the handlers saw, without reading the API."""

from __future__ import annotations

import datetime
from typing import Any

from checkout_operator import triggers
from checkout_operator.readiness import Readiness

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def body(name: str, managed: bool = True, generation: int = 1) -> dict[str, Any]:
    labels = {triggers.MANAGED_BY: triggers.OPERATOR} if managed else {}
    return {
        "metadata": {"namespace": "shop", "name": name, "generation": generation, "labels": labels},
        "spec": {"broker": "default", "subscriber": {"uri": "http://checkout-confirmation/"}},
    }


def test_a_trigger_is_ready_once_its_status_says_so_and_not_after_it_goes() -> None:
    readiness = Readiness()
    names = ["checkout-email", "checkout-shipment"]
    assert readiness.missing(names) == names  # nothing seen yet
    email = body("checkout-email")
    readiness.saw(email, triggers.status(email, consumer_error=None, now=NOW))
    assert readiness.missing(names) == ["checkout-shipment"]
    readiness.saw(email, triggers.status(email, consumer_error="stream not found", now=NOW))
    assert readiness.missing(names) == names
    readiness.saw(email, triggers.status(email, consumer_error=None, now=NOW))
    readiness.forget("checkout-email")
    assert readiness.missing(names) == names


def test_a_trigger_someone_else_keeps_does_not_count() -> None:
    readiness = Readiness()
    theirs = body("checkout-email", managed=False)
    readiness.saw(theirs, triggers.status(theirs, consumer_error=None, now=NOW))
    assert readiness.missing(["checkout-email"]) == ["checkout-email"]
