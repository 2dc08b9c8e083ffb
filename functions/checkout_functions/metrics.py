"""Prometheus metrics of one function: events handled by outcome, and how long handling took.
Each app has its own registry; the server runs one worker process, so the counters it serves are
the whole truth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from checkout_core import metrics
from checkout_core.metrics import Handled

OUTCOMES = ("succeeded", "refused", "rejected", "unavailable", "error")
"""succeeded: the step's event; refused: its `…failed` event; rejected: 400; unavailable: 503;
error: 500, a bug."""


class Metrics:
    def __init__(self, function: str) -> None:
        self.function = function
        self.registry = CollectorRegistry()
        self.handled = Handled(
            self.registry,
            "checkout_function",
            "function",
            "CloudEvents handled, by outcome.",
            "Time to handle one CloudEvent, by outcome.",
        )
        self.handled.expose(function, OUTCOMES)

    def observe(self, outcome: str, seconds: float) -> None:
        self.handled.observe(self.function, outcome, seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return metrics.exposition(self.registry)
