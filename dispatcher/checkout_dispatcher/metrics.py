"""Prometheus metrics of one dispatcher replica: events handled by Trigger and outcome, how long
handling took, and how many workers and deliveries are running."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

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
        self.events = Counter(
            "checkout_dispatcher_events",
            "Events handled, by Trigger (namespace/name) and outcome.",
            ["trigger", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "checkout_dispatcher_handling_seconds",
            "Time from taking an event to settling it with the broker, by Trigger and outcome.",
            ["trigger", "outcome"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
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
        self.events.labels(trigger, outcome).inc()
        self.duration.labels(trigger, outcome).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
