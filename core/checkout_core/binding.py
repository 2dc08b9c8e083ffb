"""CloudEvents on the wire, over HTTP and over NATS. The content mode is decided by Content-Type
(as both bindings say, not by the presence of a `ce-` header), batches are refused, and every way
an event can be malformed becomes one exception that names the problem.
Only CloudEvents 1.0 is spoken: any other specversion (0.3 too, which the SDK would read) is
refused."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import http
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent

STRUCTURED = "application/cloudevents"
BATCH = "application/cloudevents-batch"
SPECVERSION = "1.0"
"""The one specversion accepted. The SDK reads 0.3 events as such (and answers them as 1.0);
they are refused before it sees them."""
REQUIRED = ("specversion", "id", "source", "type")
"""Context attributes every event carries. The SDK invents an `id` (and, in structured mode,
assumes a `specversion`) when one is missing; an event without them is refused instead, since
the id is what makes a redelivery recognisable."""
CONTEXT = frozenset(REQUIRED) | {"datacontenttype", "dataschema", "subject", "time"}
"""The spec's own attributes; every other member of a structured event is an extension."""
DATA = ("data", "data_base64")
"""Members of a structured event that hold its data, not attributes."""
INTEGER = range(-(2**31), 2**31)
"""The spec's Integer: 32-bit signed."""
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
"""RFC 3339 date-time. The SDK's parser takes any ISO 8601 form (no seconds, `+05`, basic
format); the ranges of the fields are still left to it."""
_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
MEDIA_TYPE = re.compile(rf"{_NAME}/{_NAME}\s*(;.*)?", re.DOTALL)
"""RFC 2046 media type: type/subtype (RFC 2045 tokens), then parameters."""


class UnacceptableEvent(ValueError):
    """The request is not one CloudEvent we can read (answer 400, do not retry)."""


def from_http(headers: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").lower()
    if content_type.startswith(BATCH):
        raise UnacceptableEvent("batched CloudEvents are not accepted; send one event")
    try:
        if content_type.startswith(STRUCTURED):
            return _structured(lowered, body)
        return _binary(lowered, body)
    except UnacceptableEvent:
        raise
    except json.JSONDecodeError as error:
        raise UnacceptableEvent(f"body is not valid JSON: {error}") from error
    # The SDK signals bad input with its own exceptions, ValueError, and (for odd shapes)
    # AttributeError/TypeError; all of them mean "not an event we can read".
    except (BaseCloudEventException, ValueError, AttributeError, TypeError, KeyError) as error:
        raise UnacceptableEvent(f"not a valid CloudEvent: {error}") from error


def _binary(headers: dict[str, str], body: bytes) -> BaseCloudEvent:
    if "ce-specversion" not in headers:
        content_type = headers.get("content-type", "").lower()
        raise UnacceptableEvent(
            "not a CloudEvent: no ce-specversion header (binary mode) and Content-Type "
            f"is {content_type or 'missing'!r}, not {STRUCTURED}+json (structured mode)"
        )
    _supported(unquote(headers["ce-specversion"]))
    _require([name for name in REQUIRED if not headers.get(f"ce-{name}")])
    if "ce-time" in headers:
        _timestamp(unquote(headers["ce-time"]))
    if headers.get("content-type"):
        _media_type("Content-Type", headers["content-type"])
    return http.from_binary_event(http.HTTPMessage(headers, body))


def _structured(headers: dict[str, str], body: bytes) -> BaseCloudEvent:
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        raise UnacceptableEvent("not a CloudEvent: a structured-mode body is one JSON object")
    # JSON format 2.2: a null attribute is one left unset. `data` alone may be null: the data.
    document = {k: v for k, v in parsed.items() if v is not None or k == "data"}
    if document.get("specversion"):
        _supported(document["specversion"])
    _require([name for name in REQUIRED if not document.get(name)])
    _attributes(document)
    binary = _data_base64(document)
    message = http.HTTPMessage(headers, json.dumps(document).encode())
    event = http.from_structured_event(message)
    if binary is None:
        return event
    return CloudEvent(dict(event.get_attributes()), _decoded(binary, event.get_datacontenttype()))


def _supported(specversion: object) -> None:
    if not isinstance(specversion, str):
        shown = json.dumps(specversion)
        raise UnacceptableEvent(f"specversion must be the string '1.0', not {shown}")
    if specversion != SPECVERSION:
        raise UnacceptableEvent(
            f"specversion {specversion!r} is not supported; send CloudEvents {SPECVERSION}"
        )


def _require(missing: list[str]) -> None:
    if missing:
        raise UnacceptableEvent(f"not a valid CloudEvent: missing attributes: {', '.join(missing)}")


def _attributes(document: dict[str, Any]) -> None:
    """The rules of the spec's type system that the SDK does not check."""
    if "time" in document:
        _timestamp(document["time"])
    if isinstance(document.get("datacontenttype"), str):
        _media_type("datacontenttype", document["datacontenttype"])
    for name, value in document.items():
        if name in CONTEXT or name in DATA:
            continue
        # bool before int: True is an int to Python, and a Boolean to the spec.
        if isinstance(value, str | bool) or (isinstance(value, int) and value in INTEGER):
            continue
        raise UnacceptableEvent(
            f"extension attribute {name!r} is {json.dumps(value)}; an extension's value is a "
            "string, a boolean or a 32-bit integer"
        )


def _timestamp(value: object) -> None:
    if not isinstance(value, str) or not TIMESTAMP.fullmatch(value):
        shown = repr(value) if isinstance(value, str) else json.dumps(value)
        raise UnacceptableEvent(f"time {shown} is not an RFC 3339 timestamp")


def _media_type(where: str, value: str) -> None:
    if not MEDIA_TYPE.fullmatch(value):
        raise UnacceptableEvent(f"{where} {value!r} is not a media type (type/subtype, RFC 2046)")


def _data_base64(document: dict[str, Any]) -> bytes | None:
    """Takes `data_base64` out of `document`: the bytes it encodes, or None without one."""
    if "data_base64" not in document:
        return None
    if "data" in document:
        raise UnacceptableEvent("the event has both data and data_base64; it carries one or none")
    encoded = document.pop("data_base64")
    if not isinstance(encoded, str):
        raise UnacceptableEvent(f"data_base64 is {json.dumps(encoded)}, not a base64 string")
    try:
        # RFC 4648 strictly: a character outside the alphabet is an error, not skipped.
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise UnacceptableEvent(f"data_base64 is not valid base64: {error}") from error


def _decoded(binary: bytes, content_type: str | None) -> Any:
    """The data `data_base64` carries: for JSON (the default type), the JSON value, so the event
    is the one sent with that value as `data` or in binary mode; otherwise the bytes. Bytes that
    are not the JSON they claim stay bytes, for the receiver to refuse, as in binary mode."""
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    subtype = media_type.partition("/")[2]
    if subtype != "json" and not subtype.endswith("+json"):
        return binary
    try:
        return json.loads(binary)
    except ValueError:
        return binary


def to_http(event: BaseCloudEvent) -> tuple[dict[str, str], bytes]:
    """Binary mode: attributes as `ce-` headers, data as the body, Content-Type set."""
    message = http.to_binary_event(event)
    headers = dict(message.headers)
    # The SDK writes a Boolean as Python spells it ("True"); the spec's string form is "true".
    for name, value in event.get_attributes().items():
        if isinstance(value, bool):
            headers[f"ce-{name}"] = "true" if value else "false"
    return headers, message.body


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
