"""The one rule of what is retried, and how an answer is summed up in a line."""

from __future__ import annotations

import pytest

from checkout_core.answers import Attempt, Outcome, classify, retried, summary


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


def test_no_answer_is_retried_as_5xx_are() -> None:
    assert retried(0) and retried(500) and retried(599)
    assert not any(retried(status) for status in (200, 302, 400, 401, 403, 413, 422))


def test_summary() -> None:
    assert summary(Attempt(status=502)) == "HTTP 502"
    assert summary(Attempt(status=500, body=b"  boom \n")) == "HTTP 500: boom"
    assert summary(Attempt(error="refused")) == "refused"
    assert summary(Attempt()) == "no answer"
    assert summary(Attempt(status=200, error="bad reply")) == "HTTP 200: bad reply"
    assert len(summary(Attempt(status=500, body=b"x" * 5000))) < 300
    assert summary(Attempt(status=503, body=b'{"error": "db down", "reason": "Unavailable"}')) == (
        "HTTP 503: db down"
    )
