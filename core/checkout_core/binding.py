"""CloudEvents on the wire, over HTTP and over NATS. The content mode is decided by Content-Type
(as both bindings say, not by the presence of a `ce-` header), batches are refused, and every way
an event can be malformed becomes one exception that names the problem."""

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


# The NATS binding (binary mode needs NATS headers, server 2.2+) differs from HTTP in one rule:
# every attribute is a `ce-` header, datacontenttype included, rather than Content-Type. Header
# values are percent-encoded as over HTTP, so the HTTP codec does the encoding.


def to_nats(event: BaseCloudEvent) -> tuple[dict[str, str], bytes]:
    """Binary mode for NATS: `ce-` headers (ce-datacontenttype too), data as the payload."""
    headers, body = to_http(event)
    nats_headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    content_type = event.get_datacontenttype()
    if content_type:
        nats_headers["ce-datacontenttype"] = content_type
    return nats_headers, body


def from_nats(headers: Mapping[str, str] | None, payload: bytes) -> BaseCloudEvent:
    """Either mode: structured when Content-Type says application/cloudevents, else binary.
    Publishers that put the data's type in an unprefixed content-type (sdk-go) are accepted."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if lowered.get("content-type", "").lower().startswith(STRUCTURED):
        return from_http({"content-type": lowered["content-type"]}, payload)
    content_type = lowered.pop("ce-datacontenttype", None) or lowered.pop("content-type", None)
    if content_type:
        lowered["content-type"] = content_type
    return from_http(lowered, payload)
