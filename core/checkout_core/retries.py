"""The retry policy of a step, one type for both modes: orchestration waits by it between calls,
and a Trigger's `delivery` (Knative's fields: retry, backoffPolicy, backoffDelay, backoffMax) is
the same policy written for the dispatcher. Pure."""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import isodate

_SHAPE = re.compile(r"^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$")
"""The durations a Trigger's CRD accepts: days, hours, minutes, seconds (as Knative's)."""


class InvalidPolicy(ValueError):
    """A policy field cannot be used; the message names the field."""


def seconds(duration: str, field_path: str) -> float:
    """An ISO 8601 duration (PnDTnHnMnS) in seconds."""
    if not _SHAPE.match(duration) or duration in ("P", "PT") or duration.endswith("T"):
        raise InvalidPolicy(f"{field_path}: {duration!r} is not an ISO 8601 duration like PT0.5S")
    parsed = isodate.parse_duration(duration)
    assert isinstance(parsed, datetime.timedelta)  # the shape allows no months or years
    return parsed.total_seconds()


def duration(value: float) -> str:
    """Seconds as an ISO 8601 duration, e.g. PT0.5S or PT1M30S."""
    return str(isodate.duration_isoformat(datetime.timedelta(seconds=value)))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    """Calls in all, the first included (a Trigger's `retry` + 1)."""
    base: float = 0.2
    """Seconds: the longest wait after the first failure; the base of the growth."""
    cap: float = 30.0
    """Seconds: the longest wait between two attempts."""
    exponential: bool = True
    """Waits double (base * 2^(n-1)); else they grow by the base (base * n)."""
    jitter: float = 0.5
    """The share of each wait drawn at random, so that many events failing together do not
    retry in lockstep; 0 for none."""

    def ceiling(self, failed_attempt: int) -> float:
        """The longest wait after attempt `failed_attempt` (1-based) failed, as Knative computes
        its backoff: linear or exponential, capped."""
        n = max(1, failed_attempt)
        raw = self.base * (2.0 ** (n - 1) if self.exponential else n)
        return min(self.cap, raw)

    def delay(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt `failed_attempt` failed: the ceiling, less a random
        share of it."""
        ceiling = self.ceiling(failed_attempt)
        fixed = ceiling * (1 - self.jitter)
        return fixed + (rng or _RNG).uniform(0, ceiling - fixed)

    def to_delivery(self) -> dict[str, Any]:
        """The policy as a Trigger's `spec.delivery` fields."""
        return {
            "retry": self.attempts - 1,
            "backoffPolicy": "exponential" if self.exponential else "linear",
            "backoffDelay": duration(self.base),
            "backoffMax": duration(self.cap),
        }

    @classmethod
    def from_delivery(cls, delivery: Mapping[str, Any] | None) -> RetryPolicy:
        """The policy a Trigger's `spec.delivery` describes; defaults as in its CRD."""
        d = delivery or {}
        defaults = cls()
        policy = d.get("backoffPolicy", "exponential")
        if policy not in ("linear", "exponential"):
            raise InvalidPolicy(
                f"spec.delivery.backoffPolicy: {policy!r} is not linear or exponential"
            )
        retry = d.get("retry", defaults.attempts - 1)
        if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
            raise InvalidPolicy(f"spec.delivery.retry: {retry!r} is not a whole number >= 0")
        return cls(
            attempts=retry + 1,
            base=seconds(
                d.get("backoffDelay", duration(defaults.base)), "spec.delivery.backoffDelay"
            ),
            cap=seconds(d.get("backoffMax", duration(defaults.cap)), "spec.delivery.backoffMax"),
            exponential=policy == "exponential",
        )


_RNG = random.Random()  # noqa: S311 - jitter, not cryptography
