"""What a delivery attempt's answer means, and whether the event is retried or given up."""

from __future__ import annotations

import pytest

from checkout_core.triggers import Delivery
from checkout_dispatcher.outcomes import (
    ERROR_DATA_MAX,
    Acknowledge,
    Attempt,
    GiveUp,
    Outcome,
    Retry,
    classify,
    decide,
    error_data,
    summary,
)

URI = "http://confirmation.shop.svc.cluster.local/"


@pytest.mark.parametrize(
    ("attempt", "outcome"),
    [
        (Attempt(status=200), Outcome.DELIVERED),
        (Attempt(status=202), Outcome.DELIVERED),
        (Attempt(status=204), Outcome.DELIVERED),
        (Attempt(status=500), Outcome.TRANSIENT),
        (Attempt(status=503), Outcome.TRANSIENT),
        (Attempt(status=404), Outcome.TRANSIENT),
        (Attempt(status=408), Outcome.TRANSIENT),
        (Attempt(status=409), Outcome.TRANSIENT),
        (Attempt(status=429), Outcome.TRANSIENT),
        (Attempt(error="no answer within 5s"), Outcome.TRANSIENT),
        (Attempt(error="ClientConnectorError: refused"), Outcome.TRANSIENT),
        (Attempt(status=400), Outcome.PERMANENT),
        (Attempt(status=401), Outcome.PERMANENT),
        (Attempt(status=413), Outcome.PERMANENT),
        (Attempt(status=302), Outcome.PERMANENT),
        (Attempt(status=200, error="the reply is not usable"), Outcome.PERMANENT),
    ],
)
def test_classify(attempt: Attempt, outcome: Outcome) -> None:
    assert classify(attempt) is outcome


def test_delivered_is_acknowledged_whatever_the_attempt() -> None:
    delivery = Delivery(retry=0)
    assert decide(Attempt(status=200), 1, delivery, URI) == Acknowledge()
    assert decide(Attempt(status=200), 9, delivery, URI) == Acknowledge()


def test_transient_failure_is_retried_with_the_backoff_of_its_attempt() -> None:
    delivery = Delivery(retry=3, exponential=True, delay=0.5, cap=10.0)
    assert decide(Attempt(status=503), 1, delivery, URI) == Retry(0.5)
    assert decide(Attempt(status=503), 2, delivery, URI) == Retry(1.0)
    assert decide(Attempt(error="timeout"), 3, delivery, URI) == Retry(2.0)


def test_last_attempt_gives_up_saying_how_many() -> None:
    delivery = Delivery(retry=2)
    decision = decide(Attempt(status=503, body=b"busy"), 3, delivery, URI)
    assert decision == GiveUp(f"delivery to {URI} failed after 3 attempts: HTTP 503: busy")


def test_no_retries_gives_up_after_one_attempt() -> None:
    decision = decide(Attempt(error="no answer within 1s"), 1, Delivery(retry=0), URI)
    assert decision == GiveUp(f"delivery to {URI} failed after 1 attempt: no answer within 1s")


def test_redelivered_beyond_the_budget_still_gives_up() -> None:
    # A replica that died between the last attempt and the dead letter: the broker's count has
    # moved past the budget; the next failure must give up, not retry.
    assert isinstance(decide(Attempt(status=500), 7, Delivery(retry=2), URI), GiveUp)


def test_permanent_failure_gives_up_at_once() -> None:
    decision = decide(Attempt(status=400, body=b'{"error":"bad"}'), 1, Delivery(retry=5), URI)
    assert decision == GiveUp(f'delivery to {URI} was refused: HTTP 400: {{"error":"bad"}}')


def test_summary() -> None:
    assert summary(Attempt(status=502)) == "HTTP 502"
    assert summary(Attempt(status=500, body=b"  boom \n")) == "HTTP 500: boom"
    assert summary(Attempt(error="refused")) == "refused"
    assert summary(Attempt()) == "no answer"
    assert summary(Attempt(status=200, error="bad reply")) == "HTTP 200: bad reply"
    assert len(summary(Attempt(status=500, body=b"x" * 5000))) < 300


def test_error_data_is_the_answer_or_the_error() -> None:
    assert error_data(Attempt(status=503, body=b'{"error":"db down"}')) == b'{"error":"db down"}'
    assert error_data(Attempt(error="no answer within 2s")) == b"no answer within 2s"
    assert error_data(Attempt(status=500)) == b"HTTP 500"
    assert error_data(Attempt(status=200, body=b"junk", error="bad reply")) == b"bad reply"
    assert len(error_data(Attempt(status=500, body=b"x" * 5000))) == ERROR_DATA_MAX
