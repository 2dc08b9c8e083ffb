"""Prometheus metrics of one dispatcher replica: events handled by Trigger and outcome, how long
handling took, and how many workers and deliveries are running."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from checkout_core import metrics
from checkout_core.metrics import Handled

OUTCOMES = (
    "delivered",
    "retried",
    "dead_lettered",
    "filtered",
    "unparseable",
    "unacknowledged",
    "error",
)
"""delivered: 2xx (its reply, if any, published); retried: a failed attempt handed back to the
broker for later; dead_lettered: given up; filtered: not for this Trigger (an attribute the
consumer cannot filter on); unparseable: not a CloudEvent, dead-lettered at once;
unacknowledged: publishing to the broker failed, the event comes back; error: a bug, logged with
its traceback, the event comes back."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.handled = Handled(
            self.registry,
            "checkout_dispatcher",
            "trigger",
            "Events handled, by Trigger (namespace/name) and outcome.",
            "Time from taking an event to settling it with the broker, by Trigger and outcome.",
        )
        self.replies = Counter(
            "checkout_dispatcher_replies",
            "Subscribers' reply events published to the broker, by Trigger.",
            ["trigger"],
            registry=self.registry,
        )
        self.workers = Gauge(
            "checkout_dispatcher_workers",
            "Triggers this replica is serving.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "checkout_dispatcher_in_flight",
            "Events being delivered right now, by Trigger.",
            ["trigger"],
            registry=self.registry,
        )

    def observe(self, trigger: str, outcome: str, seconds: float) -> None:
        self.handled.observe(trigger, outcome, seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return metrics.exposition(self.registry)
