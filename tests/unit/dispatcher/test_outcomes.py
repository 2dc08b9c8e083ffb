"""What a delivery attempt's answer means, and whether the event is retried or given up."""

from __future__ import annotations

from checkout_core.answers import Attempt
from checkout_core.retries import RetryPolicy
from checkout_core.triggers import Delivery
from checkout_dispatcher.outcomes import (
    ERROR_DATA_MAX,
    Acknowledge,
    GiveUp,
    Retry,
    decide,
    error_data,
)

URI = "http://confirmation.shop.svc.cluster.local/"


def test_delivered_is_acknowledged_whatever_the_attempt() -> None:
    delivery = Delivery(RetryPolicy(attempts=1))
    assert decide(Attempt(status=200), 1, delivery, URI) == Acknowledge()
    assert decide(Attempt(status=200), 9, delivery, URI) == Acknowledge()


def test_transient_failure_is_retried_with_the_jittered_backoff_of_its_attempt() -> None:
    delivery = Delivery(RetryPolicy(attempts=4, base=0.5, cap=10.0))
    for number, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0)):
        decision = decide(Attempt(status=503), number, delivery, URI)
        assert isinstance(decision, Retry)
        assert ceiling / 2 <= decision.delay <= ceiling


def test_last_attempt_gives_up_saying_how_many() -> None:
    delivery = Delivery(RetryPolicy(attempts=3))
    decision = decide(Attempt(status=503, body=b"busy"), 3, delivery, URI)
    assert decision == GiveUp(f"delivery to {URI} failed after 3 attempts: HTTP 503: busy")


def test_no_retries_gives_up_after_one_attempt() -> None:
    decision = decide(
        Attempt(error="no answer within 1s"), 1, Delivery(RetryPolicy(attempts=1)), URI
    )
    assert decision == GiveUp(f"delivery to {URI} failed after 1 attempt: no answer within 1s")


def test_redelivered_beyond_the_budget_still_gives_up() -> None:
    # A replica that died between the last attempt and the dead letter: the broker's count has
    # moved past the budget; the next failure must give up, not retry.
    assert isinstance(
        decide(Attempt(status=500), 7, Delivery(RetryPolicy(attempts=3)), URI), GiveUp
    )


def test_permanent_failure_gives_up_at_once() -> None:
    decision = decide(
        Attempt(status=400, body=b'{"error":"bad"}'), 1, Delivery(RetryPolicy(attempts=6)), URI
    )
    assert decision == GiveUp(f"delivery to {URI} was refused: HTTP 400: bad")


def test_error_data_is_the_answer_or_the_error() -> None:
    assert error_data(Attempt(status=503, body=b'{"error":"db down"}')) == b'{"error":"db down"}'
    assert error_data(Attempt(error="no answer within 2s")) == b"no answer within 2s"
    assert error_data(Attempt(status=500)) == b"HTTP 500"
    assert error_data(Attempt(status=200, body=b"junk", error="bad reply")) == b"bad reply"
    assert len(error_data(Attempt(status=500, body=b"x" * 5000))) == ERROR_DATA_MAX
