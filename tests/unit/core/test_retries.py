"""The retry policy both modes share: its backoff, its jitter, and a Trigger's delivery fields
read and written."""

from __future__ import annotations

import random

import pytest

from checkout_core.retries import InvalidPolicy, RetryPolicy


def test_linear_backoff_grows_by_the_delay() -> None:
    policy = RetryPolicy(exponential=False, base=0.5, cap=100.0)
    assert [policy.ceiling(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 2.0]


def test_exponential_backoff_doubles_from_the_delay() -> None:
    policy = RetryPolicy(exponential=True, base=0.25, cap=100.0)
    assert [policy.ceiling(n) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(exponential=True, base=1.0, cap=5.0)
    assert [policy.ceiling(n) for n in (3, 4, 20)] == [4.0, 5.0, 5.0]
    assert RetryPolicy(exponential=False, base=2.0, cap=3.0).ceiling(10) == 3.0


def test_backoff_before_the_first_failure_is_the_delay() -> None:
    assert RetryPolicy(base=0.3).ceiling(0) == pytest.approx(0.3)


def test_attempts_are_the_retries_plus_the_first() -> None:
    assert RetryPolicy.from_delivery({"retry": 0}).attempts == 1
    assert RetryPolicy.from_delivery({"retry": 3}).attempts == 4


def test_each_delay_is_its_ceiling_less_a_random_half() -> None:
    policy = RetryPolicy(attempts=9, base=1.0, cap=5.0)
    rng = random.Random(7)
    delays = [policy.delay(n, rng) for n in range(1, 9) for _ in range(20)]
    ceilings = [policy.ceiling(n) for n in range(1, 9) for _ in range(20)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays}) > len(set(ceilings))  # drawn, not fixed


def test_no_jitter_waits_the_ceiling() -> None:
    policy = RetryPolicy(base=0.5, jitter=0.0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_a_policy_written_as_a_trigger_delivery_reads_back_the_same() -> None:
    policy = RetryPolicy(attempts=5, base=0.5, cap=90.0, exponential=False)
    written = policy.to_delivery()
    assert written == {
        "retry": 4,
        "backoffPolicy": "linear",
        "backoffDelay": "PT0.5S",
        "backoffMax": "PT1M30S",
    }
    assert RetryPolicy.from_delivery(written) == policy


@pytest.mark.parametrize("retry", [-1, "3", True, 1.5])
def test_a_retry_count_that_is_no_whole_number_is_refused(retry: object) -> None:
    with pytest.raises(InvalidPolicy, match=r"spec\.delivery\.retry"):
        RetryPolicy.from_delivery({"retry": retry})
