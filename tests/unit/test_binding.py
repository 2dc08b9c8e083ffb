"""CloudEvents over NATS: binary mode with percent-encoded `ce-` headers, structured mode, and
the unprefixed content-type some publishers send."""

from __future__ import annotations

import json

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
    document = {
        "specversion": "1.0",
        "id": "e-2",
        "type": "t",
        "source": "/s",
        "datacontenttype": "application/json",
        "data": {"a": 1},
    }
    event = binding.from_nats(
        {"Content-Type": "application/cloudevents+json"}, json.dumps(document).encode()
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
