"""The functions as the CloudEvents conformance tools see them, on the real processes: only
specversion 1.0 is served, a structured event may carry its data as `data_base64`, a null
attribute is an unset one, and both content modes work. Each case is judged by the answer and by
what was written."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cloudevents.core.bindings import http
from cloudevents.core.v1.event import CloudEvent

from checkout_core import binding, events, steps
from checkout_devenv.functions import NAMES, Functions
from checkout_functions import warehouse
from tests.integration.test_functions import (
    Answer,
    footprint,
    mail_for,
    order,
    placed,
    request,
    side_effects,
)

STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def binary(event: CloudEvent, **headers: str) -> tuple[dict[str, str], bytes]:
    """`event` in binary mode, with `ce-` headers changed."""
    sent, body = binding.to_http(event)
    return {**sent, **{f"ce-{name}": value for name, value in headers.items()}}, body


def structured(event: CloudEvent, **members: Any) -> tuple[dict[str, str], bytes]:
    """`event` in structured mode, with members changed (Ellipsis: removed)."""
    document = json.loads(http.to_structured_event(event).body)
    document.update(members)
    kept = {name: value for name, value in document.items() if value is not ...}
    return STRUCTURED, json.dumps(kept).encode()


def in_base64(event: CloudEvent, **members: Any) -> tuple[dict[str, str], bytes]:
    """`event` in structured mode with its JSON data as `data_base64` instead of `data`, then
    members changed."""
    encoded = base64.b64encode(json.dumps(event.get_data()).encode()).decode()
    return structured(event, **{"data": ..., "data_base64": encoded, **members})


def post(functions: Functions, name: str, message: tuple[dict[str, str], bytes]) -> Answer:
    headers, body = message
    return request(functions.urls[name], body, headers)


def assert_refused(answer: Answer, words: str) -> None:
    assert answer.status == 400, answer.body
    assert answer.json()["reason"] == "UnacceptableEvent"
    assert words in answer.json()["error"]


# -- only CloudEvents 1.0 --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_specversion_0_3_is_400_naming_it_and_writes_nothing(
    functions: Functions, mode: str, name: str
) -> None:
    data = order()
    event = placed(data)
    message = (binary if mode == "binary" else structured)(event, specversion="0.3")
    before = footprint(functions)

    answer = post(functions, name, message)

    assert_refused(answer, "specversion '0.3' is not supported; send CloudEvents 1.0")
    assert footprint(functions) == before
    assert side_effects(functions, name, data["id"]) == 0


# -- data_base64 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_an_order_sent_as_data_base64_is_served_like_one_sent_as_data(
    functions: Functions, name: str
) -> None:
    event = placed(order())
    order_id = str(event.get_subject())

    answer = post(functions, name, in_base64(event))

    assert answer.status == 200, answer.body
    reply = answer.event
    assert reply.get_type() == steps.BY_FUNCTION[name].produces
    assert reply.get_subject() == order_id
    assert side_effects(functions, name, order_id) == 1
    # The same event with its data as `data` (binary mode) is a repeat: same reply, no more work.
    again = post(functions, name, binary(event))
    assert (again.status, again.event.get_id()) == (200, reply.get_id())
    assert again.event.get_data() == reply.get_data()
    assert side_effects(functions, name, order_id) == 1


def test_the_warehouse_ships_an_order_sent_as_data_base64(functions: Functions) -> None:
    data = order()

    answer = post(functions, "warehouse", in_base64(placed(data)))

    assert answer.status == 200, answer.body
    assert answer.event.get_type() == events.SHIPMENT_CREATED
    assert answer.event.get_data() == {"shipmentId": warehouse.shipment_id(data["id"])}
    assert side_effects(functions, "warehouse", data["id"]) == 1  # one shipment row


def test_the_confirmation_mails_an_order_sent_as_data_base64(functions: Functions) -> None:
    data = order()

    answer = post(functions, "confirmation", in_base64(placed(data)))

    assert answer.status == 200, answer.body
    assert answer.event.get_type() == events.EMAIL_SENT
    (message,) = mail_for(functions.smtp, data["id"])
    assert message["To"].addresses[0].addr_spec == data["customer"]["email"]


UNREADABLE: dict[str, tuple[dict[str, Any], str]] = {
    "not base64": ({"data_base64": "not base64!"}, "data_base64 is not valid base64"),
    "both data and data_base64": ({"data": {"id": "x"}}, "both data and data_base64"),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_an_unreadable_data_base64_is_400_and_writes_nothing(
    functions: Functions, case: str
) -> None:
    data = order()
    members, words = UNREADABLE[case]
    before = footprint(functions)

    answer = post(functions, "warehouse", in_base64(placed(data), **members))

    assert_refused(answer, words)
    assert footprint(functions) == before


# -- attributes ------------------------------------------------------------------------------------


def test_null_attributes_are_taken_as_unset(functions: Functions) -> None:
    data = order()
    message = structured(placed(data), time=None, dataschema=None, tracestate=None)

    answer = post(functions, "warehouse", message)

    assert answer.status == 200, answer.body
    assert answer.event.get_extension("tracestate") is None
    assert side_effects(functions, "warehouse", data["id"]) == 1


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ({"time": "2024-05-06T07:08Z"}, "RFC 3339"),
        ({"datacontenttype": "json"}, "not a media type"),
        ({"attempt": 1.5}, "extension attribute 'attempt'"),
    ],
    ids=["time without seconds", "datacontenttype without subtype", "fractional extension"],
)
def test_attributes_the_spec_forbids_are_400(
    functions: Functions, members: dict[str, Any], words: str
) -> None:
    data = order()

    answer = post(functions, "warehouse", structured(placed(data), **members))

    assert_refused(answer, words)
    assert side_effects(functions, "warehouse", data["id"]) == 0


# -- both content modes, as before -----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_both_content_modes_are_served(functions: Functions, mode: str, name: str) -> None:
    data = order()
    event = placed(data)

    answer = post(functions, name, binary(event) if mode == "binary" else structured(event))

    assert answer.status == 200, answer.body
    assert answer.headers["ce-specversion"] == "1.0"
    reply = answer.event
    assert reply.get_type() == steps.BY_FUNCTION[name].produces
    assert reply.get_subject() == data["id"]
    assert side_effects(functions, name, data["id"]) == 1
