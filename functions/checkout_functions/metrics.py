"""Prometheus metrics of one function: events handled by outcome, and how long handling took.
Each app has its own registry; the server runs one worker process, so the counters it serves are
the whole truth."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

OUTCOMES = ("succeeded", "refused", "rejected", "unavailable", "error")
"""succeeded: the step's event; refused: its `…failed` event; rejected: 400; unavailable: 503;
error: 500, a bug."""


class Metrics:
    def __init__(self, function: str) -> None:
        self.function = function
        self.registry = CollectorRegistry()
        self.events = Counter(
            "checkout_function_events",
            "CloudEvents handled, by outcome.",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "checkout_function_handling_seconds",
            "Time to handle one CloudEvent, by outcome.",
            ["function", "outcome"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        # Expose every outcome from the start, at zero, so rates and alerts need no special case
        # for a series that has not appeared yet.
        for outcome in OUTCOMES:
            self.events.labels(function, outcome)
            self.duration.labels(function, outcome)

    def observe(self, outcome: str, seconds: float) -> None:
        self.events.labels(self.function, outcome).inc()
        self.duration.labels(self.function, outcome).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
