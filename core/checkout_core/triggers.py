"""A Trigger as the operator and the dispatcher both read it: its filter, its delivery policy
(ISO 8601 durations, backoff), the broker consumer that holds its events, and its resolved
destinations. Pure: parses the object's body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checkout_core import retries, subjects
from checkout_core.retries import RetryPolicy

DEFAULT_BROKER = "default"


class InvalidTrigger(ValueError):
    """The Trigger cannot be used as written; the message names the field."""


def seconds(duration: str, field_path: str) -> float:
    """An ISO 8601 duration (PnDTnHnMnS, as Knative's delivery fields use) in seconds."""
    try:
        return retries.seconds(duration, field_path)
    except retries.InvalidPolicy as error:
        raise InvalidTrigger(str(error)) from None


@dataclass(frozen=True)
class Delivery:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    """Attempts and the waits between them: spec.delivery's retry and backoff fields."""
    timeout: float = 10.0
    """Seconds one attempt may take."""
    failed_event_type: str = ""
    """Published when delivery is given up; empty for none."""

    @property
    def attempts(self) -> int:
        return self.policy.attempts

    def backoff(self, failed_attempt: int) -> float:
        """Seconds before the attempt after `failed_attempt` (1-based)."""
        return self.policy.delay(failed_attempt)

    @classmethod
    def from_json(cls, delivery: Mapping[str, Any] | None) -> Delivery:
        d = delivery or {}
        try:
            policy = RetryPolicy.from_delivery(d)
        except retries.InvalidPolicy as error:
            raise InvalidTrigger(str(error)) from None
        return cls(
            policy=policy,
            timeout=seconds(d.get("timeout", "PT10S"), "spec.delivery.timeout"),
            failed_event_type=d.get("failedEventType", ""),
        )


def resolve(destination: Mapping[str, Any], namespace: str, field_path: str) -> str:
    """A destination's URL: its uri, or its Service ref's in-cluster address."""
    if destination.get("uri"):
        return str(destination["uri"])
    ref = destination.get("ref")
    if not ref:
        raise InvalidTrigger(f"{field_path}: needs ref or uri")
    if ref.get("kind", "Service") != "Service":
        raise InvalidTrigger(f"{field_path}.ref.kind: only Service is supported")
    return f"http://{ref['name']}.{ref.get('namespace') or namespace}.svc.cluster.local/"


def _wire(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Trigger:
    namespace: str
    name: str
    broker: str
    filter: Mapping[str, str]
    delivery: Delivery
    subscriber_uri: str
    """Resolved by the operator into status.subscriberUri; from spec until it has."""
    dead_letter_uri: str = ""
    """Empty: dead letters go to the broker's dead-letter stream."""
    generation: int = 1
    ready: bool = False
    """The operator has made its consumer and resolved its destinations (status Ready=True)."""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def consumer(self) -> str:
        """The durable consumer's name; dispatchers sharing it share the work."""
        return subjects.consumer_name(self.namespace, self.name)

    @property
    def filter_subject(self) -> str:
        """What the consumer itself filters: the type, when the filter names one. The other
        attributes are compared by the dispatcher, event by event."""
        return subjects.subject(self.filter["type"]) if "type" in self.filter else subjects.ALL

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Every filter attribute is on the event with exactly the filter's value, compared as
        CloudEvents write values on the wire (a boolean is "true"); an absent attribute matches
        nothing."""
        return all(_wire(attributes.get(k)) == v for k, v in self.filter.items())

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Trigger:
        meta, spec = body["metadata"], body.get("spec") or {}
        status = body.get("status") or {}
        namespace = meta["namespace"]
        subscriber = spec.get("subscriber") or {}
        dead_letter = (spec.get("delivery") or {}).get("deadLetterSink")
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        ready = conditions.get("Ready", {}).get("status") == "True" and status.get(
            "observedGeneration"
        ) == meta.get("generation", 1)
        return cls(
            namespace=namespace,
            name=meta["name"],
            broker=spec.get("broker", DEFAULT_BROKER),
            filter=dict((spec.get("filter") or {}).get("attributes") or {}),
            delivery=Delivery.from_json(spec.get("delivery")),
            subscriber_uri=status.get("subscriberUri")
            or resolve(subscriber, namespace, "spec.subscriber"),
            dead_letter_uri=status.get("deadLetterSinkUri")
            or (
                resolve(dead_letter, namespace, "spec.delivery.deadLetterSink")
                if dead_letter
                else ""
            ),
            generation=meta.get("generation", 1),
            ready=ready,
            labels=dict(meta.get("labels") or {}),
        )
