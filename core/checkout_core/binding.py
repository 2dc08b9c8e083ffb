"""CloudEvents on the wire over HTTP: the content mode is decided by Content-Type (as the HTTP
binding says, not by the presence of a `ce-` header), batches are refused, and every way an event
can be malformed becomes one exception that names the problem."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import http
from cloudevents.core.exceptions import BaseCloudEventException

STRUCTURED = "application/cloudevents"
BATCH = "application/cloudevents-batch"
REQUIRED = ("specversion", "id", "source", "type")
"""Context attributes every event carries. The SDK invents an `id` (and, in structured mode,
assumes a `specversion`) when one is missing; an event without them is refused instead, since
the id is what makes a redelivery recognisable."""


class UnacceptableEvent(ValueError):
    """The request is not one CloudEvent we can read (answer 400, do not retry)."""


def from_http(headers: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").lower()
    if content_type.startswith(BATCH):
        raise UnacceptableEvent("batched CloudEvents are not accepted; send one event")
    message = http.HTTPMessage(dict(lowered), body)
    try:
        if content_type.startswith(STRUCTURED):
            document = json.loads(body)
            if isinstance(document, dict):
                _require([name for name in REQUIRED if not document.get(name)])
            return http.from_structured_event(message)
        if "ce-specversion" not in lowered:
            raise UnacceptableEvent(
                "not a CloudEvent: no ce-specversion header (binary mode) and Content-Type "
                f"is {content_type or 'missing'!r}, not {STRUCTURED}+json (structured mode)"
            )
        _require([name for name in REQUIRED if not lowered.get(f"ce-{name}")])
        return http.from_binary_event(message)
    except UnacceptableEvent:
        raise
    except json.JSONDecodeError as error:
        raise UnacceptableEvent(f"body is not valid JSON: {error}") from error
    # The SDK signals bad input with its own exceptions, ValueError, and (for odd shapes such as
    # a JSON list) AttributeError/TypeError; all of them mean "not an event we can read".
    except (BaseCloudEventException, ValueError, AttributeError, TypeError, KeyError) as error:
        raise UnacceptableEvent(f"not a valid CloudEvent: {error}") from error


def _require(missing: list[str]) -> None:
    if missing:
        raise UnacceptableEvent(f"not a valid CloudEvent: missing attributes: {', '.join(missing)}")


def to_http(event: BaseCloudEvent) -> tuple[dict[str, str], bytes]:
    """Binary mode: attributes as `ce-` headers, data as the body, Content-Type set."""
    message = http.to_binary_event(event)
    return dict(message.headers), message.body
