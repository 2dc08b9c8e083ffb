"""CloudEvents on the wire: HTTP and NATS, binary and structured mode, only specversion 1.0,
`data_base64`, and the attribute rules of the spec (null is unset, RFC 3339 times, media types,
extension value types) that the SDK leaves unchecked."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from checkout_core import binding

EVENT = CloudEvent(
    attributes={
        "id": "e-1",
        "type": "com.example.shop.order.placed",
        "source": "/checkout-operator",
        "subject": "1001",
        "datacontenttype": "application/json",
        "checkout": "Euro € 😀",
    },
    data={"id": "1001"},
)
ORDER = {"id": "1001", "items": [{"sku": "BOOK-42", "quantity": 2}]}
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def document(**changes: Any) -> dict[str, Any]:
    """A structured-mode event carrying ORDER as `data`, with members changed (Ellipsis:
    removed)."""
    base: dict[str, Any] = {
        "specversion": "1.0",
        "id": "e-3",
        "type": "com.example.shop.order.placed",
        "source": "/checkout-operator",
        "subject": "1001",
        "datacontenttype": "application/json",
        "data": ORDER,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not ...}


def structured(**changes: Any) -> Any:
    return binding.from_http(STRUCTURED, json.dumps(document(**changes)).encode())


def encoded(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


# -- NATS ------------------------------------------------------------------------------------------


def test_binary_mode_puts_every_attribute_in_a_percent_encoded_ce_header() -> None:
    headers, payload = binding.to_nats(EVENT)
    assert headers["ce-checkout"] == "Euro%20%E2%82%AC%20%F0%9F%98%80"  # the spec's example
    assert headers["ce-datacontenttype"] == "application/json"
    assert "content-type" not in {k.lower() for k in headers}
    assert json.loads(payload) == {"id": "1001"}
    back = binding.from_nats(headers, payload)
    assert back.get_attributes() == EVENT.get_attributes()
    assert back.get_data() == {"id": "1001"}


def test_structured_mode_is_read_by_content_type() -> None:
    event = binding.from_nats(
        {"Content-Type": "application/cloudevents+json"},
        json.dumps(document(id="e-2", data={"a": 1})).encode(),
    )
    assert (event.get_id(), event.get_data()) == ("e-2", {"a": 1})


def test_an_unprefixed_content_type_is_accepted() -> None:
    headers, payload = binding.to_nats(EVENT)
    headers["content-type"] = headers.pop("ce-datacontenttype")
    assert binding.from_nats(headers, payload).get_data() == {"id": "1001"}


@pytest.mark.parametrize(
    ("headers", "payload"),
    [({}, b"not json"), ({"ce-specversion": "1.0", "ce-type": "t"}, b"{}")],
)
def test_a_message_that_is_no_event_is_refused(headers: dict[str, str], payload: bytes) -> None:
    with pytest.raises(binding.UnacceptableEvent):
        binding.from_nats(headers, payload)


# -- specversion -----------------------------------------------------------------------------------


def in_mode(mode: str, specversion: str) -> Any:
    """EVENT, claiming `specversion`, read as `mode` receives it."""
    if mode == "HTTP binary":
        headers, body = binding.to_http(EVENT)
        return binding.from_http({**headers, "ce-specversion": specversion}, body)
    if mode == "NATS binary":
        headers, body = binding.to_nats(EVENT)
        return binding.from_nats({**headers, "ce-specversion": specversion}, body)
    body = json.dumps(document(specversion=specversion)).encode()
    if mode == "HTTP structured":
        return binding.from_http(STRUCTURED, body)
    return binding.from_nats(STRUCTURED, body)


MODES = ["HTTP binary", "HTTP structured", "NATS binary", "NATS structured"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("specversion", ["0.3", "0.9", "1.1"])
def test_only_specversion_1_0_is_accepted(mode: str, specversion: str) -> None:
    # 0.3 matters most: the SDK has a class for it and would read the event without a word.
    with pytest.raises(binding.UnacceptableEvent) as refused:
        in_mode(mode, specversion)
    assert str(refused.value) == (
        f"specversion {specversion!r} is not supported; send CloudEvents 1.0"
    )


@pytest.mark.parametrize("mode", MODES)
def test_specversion_1_0_is_read_in_every_mode(mode: str) -> None:
    event = in_mode(mode, "1.0")
    assert (event.get_specversion(), event.get_subject()) == ("1.0", "1001")


def test_a_specversion_that_is_no_string_is_refused() -> None:
    with pytest.raises(binding.UnacceptableEvent, match=r"must be the string '1\.0', not 1\.0"):
        structured(specversion=1.0)


# -- data_base64 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/vnd.shop+json", ...],
    ids=["json", "+json", "absent (JSON by default)"],
)
def test_data_base64_of_json_is_the_same_event_as_data(content_type: Any) -> None:
    as_data = structured(datacontenttype=content_type)
    as_base64 = structured(datacontenttype=content_type, data=..., data_base64=encoded(ORDER))
    assert as_base64.get_data() == ORDER
    assert as_base64.get_attributes() == {**as_data.get_attributes(), "time": as_base64.get_time()}


def test_data_base64_of_another_content_type_is_the_decoded_bytes() -> None:
    raw = bytes(range(256))
    event = structured(
        datacontenttype="application/octet-stream",
        data=...,
        data_base64=base64.b64encode(raw).decode(),
    )
    assert event.get_data() == raw


def test_data_base64_over_nats_is_decoded_too() -> None:
    body = json.dumps(document(data=..., data_base64=encoded(ORDER))).encode()
    assert binding.from_nats(STRUCTURED, body).get_data() == ORDER


def test_data_base64_that_is_no_json_is_left_for_the_receiver_to_refuse() -> None:
    # As in binary mode, where a body that is not the JSON it claims reaches the function.
    text = base64.b64encode(b"{not json").decode()
    assert structured(data=..., data_base64=text).get_data() == b"{not json"


@pytest.mark.parametrize("value", ["not base64!", "abc", "YWJj\nZGVm", 12])
def test_data_base64_that_is_no_base64_is_refused(value: Any) -> None:
    with pytest.raises(binding.UnacceptableEvent, match="data_base64"):
        structured(data=..., data_base64=value)


@pytest.mark.parametrize("data", [ORDER, None])
def test_data_and_data_base64_together_are_refused(data: Any) -> None:
    with pytest.raises(binding.UnacceptableEvent, match="both data and data_base64"):
        structured(data=data, data_base64=encoded(ORDER))


# -- the spec's attribute rules --------------------------------------------------------------------


def test_null_attributes_are_unset() -> None:
    event = structured(subject=None, time=None, dataschema=None, unsetextension=None)
    attributes = event.get_attributes()
    assert "subject" not in attributes and "dataschema" not in attributes
    assert "unsetextension" not in attributes
    assert structured(data_base64=None).get_data() == ORDER


@pytest.mark.parametrize(
    "changes",
    [
        {"time": "2024-05-06T07:08:09Z"},
        {"time": "2024-05-06T07:08:09.123456789Z"},
        {"time": "2024-05-06T08:08:09+01:00"},
        {"time": "2024-05-06t06:08:09-01:00"},
        {"datacontenttype": "application/json; charset=utf-8"},
        {"number": 2147483647, "flag": False, "text": "x", "when": "2024-05-06T07:08:09Z"},
        {"abcdefghijklmnopqrstuvwxyz": "names SHOULD NOT exceed 20 characters: not MUST"},
    ],
    ids=str,
)
def test_attributes_the_spec_allows_are_accepted(changes: dict[str, Any]) -> None:
    assert structured(**changes).get_subject() == "1001"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"time": "lunchtime"}, "time 'lunchtime' is not an RFC 3339 timestamp"),
        ({"time": "2024-05-06T07:08Z"}, "RFC 3339"),
        ({"time": "2024-05-06T07:08:09+05"}, "RFC 3339"),
        ({"time": "20240506T070809Z"}, "RFC 3339"),
        ({"time": "2024-05-06"}, "RFC 3339"),
        ({"time": 1714979289}, "RFC 3339"),
        ({"datacontenttype": "json"}, "datacontenttype 'json' is not a media type"),
        ({"datacontenttype": "application/json extra"}, "is not a media type"),
        ({"number": 1.5}, "extension attribute 'number'"),
        ({"number": 2147483648}, "extension attribute 'number'"),
        ({"nested": {"a": 1}}, "extension attribute 'nested'"),
        ({"listed": ["a"]}, "extension attribute 'listed'"),
    ],
    ids=str,
)
def test_attributes_the_spec_forbids_are_refused(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(binding.UnacceptableEvent) as refused:
        structured(**changes)
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    ("header", "value"),
    [("ce-time", "2024-05-06T07:08Z"), ("ce-time", "20240506T070809Z"), ("content-type", "json")],
)
def test_binary_mode_headers_the_spec_forbids_are_refused(header: str, value: str) -> None:
    headers, body = binding.to_http(EVENT)
    with pytest.raises(binding.UnacceptableEvent, match=r"RFC 3339|media type"):
        binding.from_http({**headers, header: value}, body)


def test_a_binary_mode_time_is_read() -> None:
    headers, body = binding.to_http(EVENT)
    event = binding.from_http({**headers, "ce-time": "2024-05-06T07:08:09%2B01:00"}, body)
    time = event.get_time()
    assert time is not None and time.isoformat() == "2024-05-06T07:08:09+01:00"


def test_a_boolean_extension_is_sent_in_its_canonical_form() -> None:
    flagged = CloudEvent(attributes={**EVENT.get_attributes(), "flag": True}, data={"id": "1"})
    headers, _ = binding.to_http(flagged)
    assert headers["ce-flag"] == "true"
    assert binding.to_nats(flagged)[0]["ce-flag"] == "true"
