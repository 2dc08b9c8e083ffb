"""Choreography's configuration, built from the step catalogue: one Trigger per step, and the
status of a Trigger once its consumer exists. Pure: builds dicts, the handlers apply them."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from checkout_core import api, retries, subjects
from checkout_core.api import API_VERSION, GROUP, TRIGGER_KIND
from checkout_core.steps import Step
from checkout_core.triggers import DEFAULT_BROKER, InvalidTrigger, Trigger
from checkout_operator.settings import Settings

MANAGED_BY = "app.kubernetes.io/managed-by"
OPERATOR = "checkout-operator"
STEP_LABEL = f"{GROUP}/step"


def name(step: Step) -> str:
    return f"checkout-{step.name}"


def desired(
    catalogue: Iterable[Step], settings: Settings, owner: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The Trigger of each step: its filter is the step's condition, its subscriber the step's
    function, its delivery the same retry budget orchestration uses, and its failure event the
    step's `…failed` twin. `owner` (an ownerReference) ties them to what they exist for."""
    objects = []
    for step in catalogue:
        meta: dict[str, Any] = {
            "name": name(step),
            "namespace": settings.namespace,
            "labels": {MANAGED_BY: OPERATOR, STEP_LABEL: step.name},
        }
        if owner:
            meta["ownerReferences"] = [dict(owner)]
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": TRIGGER_KIND,
                "metadata": meta,
                "spec": {
                    "broker": DEFAULT_BROKER,
                    "filter": {"attributes": step.trigger_filter()},
                    "subscriber": {"uri": settings.function_url(step.function)},
                    "delivery": {
                        **settings.retry_policy.to_delivery(),
                        "timeout": retries.duration(settings.attempt_timeout),
                        "failedEventType": step.fails,
                    },
                },
            }
        )
    return objects


def spec_differs(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether an existing Trigger has drifted from what we want (defaults the API server added
    on its own do not count)."""

    def covered(have: Any, want: Any) -> bool:
        if isinstance(want, Mapping):
            return isinstance(have, Mapping) and all(
                covered(have.get(k), v) for k, v in want.items()
            )
        return bool(have == want)

    return not covered(current.get("spec"), wanted["spec"])


def ack_wait(trigger: Trigger) -> float:
    """How long the broker waits for an acknowledgement before redelivering: a little longer
    than one delivery attempt may take, so a slow subscriber is not called twice at once, and
    no longer, so the events a killed dispatcher held come back soon."""
    return trigger.delivery.timeout + 5.0


def status(
    body: Mapping[str, Any],
    *,
    consumer_error: str | None,
    now: datetime.datetime,
) -> dict[str, Any]:
    """A Trigger's status: Ready when its broker is ours, its destinations resolve and its
    consumer exists (`consumer_error` None); each condition says why not."""
    meta = body["metadata"]
    generation = meta.get("generation", 1)
    previous = {c["type"]: c for c in (body.get("status") or {}).get("conditions") or []}

    def condition(kind: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
        value = "True" if ok else "False"
        since = api.transitioned(previous.get(kind), value, now)
        return api.condition(kind, value, reason, message, generation=generation, since=since)

    spec = body.get("spec") or {}
    conditions = []
    out: dict[str, Any] = {"observedGeneration": generation}
    broker_ok = spec.get("broker") == DEFAULT_BROKER
    conditions.append(
        condition(
            "BrokerReady",
            broker_ok,
            "BrokerReady" if broker_ok else "BrokerNotFound",
            f"broker {spec.get('broker')!r}"
            + (
                " is NATS JetStream stream " + subjects.STREAM
                if broker_ok
                else " does not exist; use 'default'"
            ),
        )
    )
    try:
        trigger = Trigger.from_body({**body, "status": {}})
    except InvalidTrigger as error:
        trigger = None
        conditions.append(condition("SubscriberResolved", False, "InvalidSpec", str(error)))
    if trigger is not None:
        out["subscriberUri"] = trigger.subscriber_uri
        out["deadLetterSinkUri"] = trigger.dead_letter_uri
        out["consumer"] = trigger.consumer
        dead_letters = subjects.dead_letter_subject(trigger.namespace, trigger.name)
        conditions.append(condition("SubscriberResolved", True, "Resolved", trigger.subscriber_uri))
        conditions.append(
            condition(
                "DeadLetterSinkResolved",
                True,
                "Resolved" if trigger.dead_letter_uri else "DeadLetterStream",
                trigger.dead_letter_uri or f"dead letters go to {dead_letters}",
            )
        )
        conditions.append(
            condition(
                "ConsumerReady",
                consumer_error is None,
                "ConsumerReady" if consumer_error is None else "ConsumerFailed",
                consumer_error
                or f"durable consumer {trigger.consumer} on {trigger.filter_subject}",
            )
        )
    failing = [c for c in conditions if c["status"] != "True"]
    conditions.insert(
        0,
        condition(
            api.READY,
            not failing,
            "Ready" if not failing else failing[0]["reason"],
            "delivering" if not failing else failing[0]["message"],
        ),
    )
    out["conditions"] = conditions
    return out
