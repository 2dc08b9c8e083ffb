"""The events the dispatcher sends on, each derived from the event it delivered: the
subscriber's reply stamped with the delivery attempt, the dead letter with the error attached
(Knative's extensions), and the failed event that keeps a given-up delivery visible. Pure."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

from checkout_core import binding, events

SOURCE = "/checkout-dispatcher"
DELIVERY_ATTEMPT = "deliveryattempt"
"""Extension attribute: which delivery (1-based, the broker's count) brought the answer, so
the status projector can show a step's attempts."""
ERROR_DEST = "knativeerrordest"
"""Extension attribute of a dead letter: where delivery failed."""
ERROR_CODE = "knativeerrorcode"
"""Extension attribute of a dead letter: the subscriber's HTTP status, 0 for no answer."""
ERROR_DATA = "knativeerrordata"
"""Extension attribute of a dead letter: base64 of the subscriber's answer or of the error."""
DELIVERY_FAILED = "DeliveryFailed"
"""The reason in a failed event's data."""


def extended(
    event: BaseCloudEvent, extensions: Mapping[str, str | int], payload: bytes | None = None
) -> CloudEvent:
    """`event` with more extension attributes. `payload`, when given, is the event's data
    exactly as it arrived in binary mode: kept byte for byte, since decoding and encoding again
    can change it (a JSON string loses its quotes)."""
    data = payload if payload else event.get_data()
    return CloudEvent(attributes={**event.get_attributes(), **extensions}, data=data)


def read_reply(headers: Mapping[str, str], body: bytes) -> tuple[BaseCloudEvent, bytes | None]:
    """The CloudEvent a 2xx answer holds, and its data as sent when in binary mode. Raises
    LookupError when the answer holds no event (an empty body, or a body without CloudEvents
    headers or Content-Type), binding.UnacceptableEvent when it holds a malformed one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    structured = lowered.get("content-type", "").lower().startswith(binding.STRUCTURED)
    if not structured and "ce-specversion" not in lowered:
        raise LookupError("the answer holds no CloudEvent")
    event = binding.from_http(lowered, body)
    return event, (None if structured else body)


def reply(event: BaseCloudEvent, payload: bytes | None, attempt: int) -> CloudEvent:
    """The subscriber's reply as it is published: unchanged but for `deliveryattempt`."""
    return extended(event, {DELIVERY_ATTEMPT: attempt}, payload)


def dead_letter(
    event: BaseCloudEvent, payload: bytes | None, destination: str, code: int, error: bytes
) -> CloudEvent:
    """The event as delivered, with the error attached as Knative attaches it."""
    return extended(
        event,
        {
            ERROR_DEST: destination,
            ERROR_CODE: code,
            ERROR_DATA: base64.b64encode(error).decode("ascii"),
        },
        payload,
    )


def failed(event: BaseCloudEvent, failed_type: str, attempt: int, message: str) -> CloudEvent:
    """The Trigger's failedEventType, answering `event` as the subscriber's refusal would: same
    subject, checkout and trace, an id derived from the event's id and this type (so publishing
    it twice stores it once)."""
    answer = events.reply(event, failed_type, SOURCE, events.failure(DELIVERY_FAILED, message))
    return extended(answer, {DELIVERY_ATTEMPT: attempt})
