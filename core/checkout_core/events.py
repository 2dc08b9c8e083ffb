"""The shop's CloudEvents: their types, the attributes every event of a checkout carries, and
builders for `order.placed` and for a function's reply."""

from __future__ import annotations

import datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

PREFIX = "com.example.shop."
ORDER_PLACED = PREFIX + "order.placed"
EMAIL_SENT = PREFIX + "email.sent"
EMAIL_FAILED = PREFIX + "email.failed"
SHIPMENT_CREATED = PREFIX + "shipment.created"
SHIPMENT_FAILED = PREFIX + "shipment.failed"
POINTS_CREDITED = PREFIX + "points.credited"
POINTS_FAILED = PREFIX + "points.failed"

CHECKOUT = "checkout"
"""Extension attribute: the Checkout's `namespace/name`."""
REWARDS_MEMBER = "rewardsmember"
"""Extension attribute of order.placed: "true" or "false", so a trigger can filter on it."""
TRACEPARENT = "traceparent"
"""Extension attribute: W3C trace context of the checkout, carried unchanged across hops."""
PROPAGATED = (CHECKOUT, TRACEPARENT, "tracestate")
"""Attributes a reply copies from the event it answers."""

OPERATOR_SOURCE = "/checkout-operator"
JSON = "application/json"


def order_placed(
    order: dict[str, Any],
    checkout: str,
    *,
    event_id: str,
    rewards_member: bool,
    traceparent: str | None = None,
) -> CloudEvent:
    """The event that starts a checkout. `event_id` is stable per Checkout, so every attempt to
    deliver or publish it is recognisably the same event."""
    attributes: dict[str, Any] = {
        "id": event_id,
        "type": ORDER_PLACED,
        "source": OPERATOR_SOURCE,
        "subject": order["id"],
        "datacontenttype": JSON,
        CHECKOUT: checkout,
        REWARDS_MEMBER: "true" if rewards_member else "false",
    }
    if traceparent:
        attributes[TRACEPARENT] = traceparent
    return CloudEvent(attributes=attributes, data=order)


def reply(
    to: BaseCloudEvent,
    event_type: str,
    source: str,
    data: dict[str, Any],
    time: datetime.datetime | None = None,
) -> CloudEvent:
    """A function's answer to `to`: same subject and checkout, same trace; its id is derived from
    the incoming id, so a repeated event gets the same reply. `time` is when the work was done, as
    recorded, so a repeat gets that time too (the SDK stamps the present moment otherwise)."""
    attributes: dict[str, Any] = {
        "id": f"{to.get_id()}/{event_type.removeprefix(PREFIX)}",
        "type": event_type,
        "source": source,
        "subject": to.get_subject(),
        "datacontenttype": JSON,
    }
    for name in PROPAGATED:
        value = to.get_extension(name)
        if value is not None:
            attributes[name] = value
    if time is not None:
        attributes["time"] = time
    return CloudEvent(attributes=attributes, data=data)


def failure(reason: str, message: str) -> dict[str, str]:
    """The data of a `…failed` event: a CamelCase reason and a sentence."""
    return {"reason": reason, "message": message}
