"""Prometheus metrics every part that handles events shares: a registry of its own, events
counted and timed by outcome (and by what they were for), and the text format served on
/metrics."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Seconds: from a quick local call to a delivery that ran into its timeout."""


class Handled:
    """Events handled: `<prefix>_events_total` and `<prefix>_handling_seconds`, both labelled
    by `label` (the function, the Trigger) and outcome."""

    def __init__(
        self,
        registry: CollectorRegistry,
        prefix: str,
        label: str,
        counted: str,
        timed: str,
    ) -> None:
        self.events = Counter(f"{prefix}_events", counted, [label, "outcome"], registry=registry)
        self.duration = Histogram(
            f"{prefix}_handling_seconds",
            timed,
            [label, "outcome"],
            registry=registry,
            buckets=BUCKETS,
        )

    def expose(self, key: str, outcomes: Iterable[str]) -> None:
        """Every outcome of `key` from the start, at zero, so rates and alerts need no special
        case for a series that has not appeared yet."""
        for outcome in outcomes:
            self.events.labels(key, outcome)
            self.duration.labels(key, outcome)

    def observe(self, key: str, outcome: str, seconds: float) -> None:
        self.events.labels(key, outcome).inc()
        self.duration.labels(key, outcome).observe(seconds)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text format of `registry` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
