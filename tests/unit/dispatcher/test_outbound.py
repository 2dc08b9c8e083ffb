"""The events the dispatcher publishes: replies stamped with the attempt, dead letters with
Knative's error extensions, and failed events."""

from __future__ import annotations

import base64

import pytest

from checkout_core import binding, events
from checkout_dispatcher import outbound

PLACED = events.order_placed(
    {"id": "1001"}, "shop/order-1001", event_id="ev-1", rewards_member=True, traceparent="00-ab-01"
)


def test_extended_adds_attributes_and_keeps_the_rest() -> None:
    out = outbound.extended(PLACED, {"deliveryattempt": 3})
    assert out.get_extension("deliveryattempt") == 3
    for name in ("id", "type", "source", "subject", "checkout", "rewardsmember", "traceparent"):
        assert out.get_attributes()[name] == PLACED.get_attributes()[name]
    assert out.get_data() == {"id": "1001"}


def test_extended_keeps_the_payload_byte_for_byte() -> None:
    # Decoded and encoded again, a JSON string would lose its quotes.
    headers, _ = binding.to_http(PLACED)
    decoded = binding.from_http(headers, b'"just a string"')
    _, sent = binding.to_http(
        outbound.extended(decoded, {"deliveryattempt": 1}, b'"just a string"')
    )
    assert sent == b'"just a string"'


def test_read_reply_binary_mode() -> None:
    answer = events.reply(PLACED, events.EMAIL_SENT, "/functions/confirmation", {"m": 1})
    headers, body = binding.to_http(answer)
    event, payload = outbound.read_reply(headers, body)
    assert event.get_id() == "ev-1/email.sent"
    assert event.get_type() == events.EMAIL_SENT
    assert payload == body


def test_read_reply_structured_mode() -> None:
    body = (
        b'{"specversion":"1.0","id":"r1","source":"/fn","type":"com.example.pong",'
        b'"datacontenttype":"application/json","data":{"ok":true}}'
    )
    event, payload = outbound.read_reply(
        {"Content-Type": "application/cloudevents+json; charset=utf-8"}, body
    )
    assert (event.get_id(), event.get_data()) == ("r1", {"ok": True})
    assert payload is None


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b""),
        ({"Content-Type": "application/json"}, b'{"status":"ok"}'),
        ({"Content-Type": "text/plain"}, b"accepted"),
    ],
)
def test_read_reply_without_an_event(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(LookupError):
        outbound.read_reply(headers, body)


def test_read_reply_with_a_malformed_event() -> None:
    with pytest.raises(binding.UnacceptableEvent, match="missing attributes: id"):
        outbound.read_reply({"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}, b"")
    with pytest.raises(binding.UnacceptableEvent, match="not valid JSON"):
        outbound.read_reply({"Content-Type": "application/cloudevents+json"}, b"{oops")


def test_reply_is_stamped_with_the_delivery_attempt() -> None:
    answer = events.reply(PLACED, events.EMAIL_SENT, "/functions/confirmation", {"m": 1})
    stamped = outbound.reply(answer, None, 2)
    headers, _ = binding.to_nats(stamped)
    assert headers["ce-deliveryattempt"] == "2"
    assert headers["ce-id"] == "ev-1/email.sent"


def test_dead_letter_carries_knatives_error_extensions() -> None:
    letter = outbound.dead_letter(PLACED, None, "http://fn/", 503, b'{"error":"down"}')
    assert letter.get_id() == "ev-1"
    assert letter.get_type() == events.ORDER_PLACED
    assert letter.get_extension("knativeerrordest") == "http://fn/"
    assert letter.get_extension("knativeerrorcode") == 503
    data = letter.get_extension("knativeerrordata")
    assert base64.b64decode(data) == b'{"error":"down"}'
    assert letter.get_data() == {"id": "1001"}
    headers, _ = binding.to_nats(letter)
    assert headers["ce-knativeerrorcode"] == "503"


def test_failed_event_answers_the_original() -> None:
    failed = outbound.failed(
        PLACED, events.EMAIL_FAILED, 4, "delivery to x failed after 4 attempts"
    )
    assert failed.get_id() == "ev-1/email.failed"
    assert failed.get_type() == events.EMAIL_FAILED
    assert failed.get_source() == "/checkout-dispatcher"
    assert failed.get_subject() == "1001"
    assert failed.get_extension("checkout") == "shop/order-1001"
    assert failed.get_extension("traceparent") == "00-ab-01"
    assert failed.get_extension("deliveryattempt") == 4
    assert failed.get_extension("rewardsmember") is None
    assert failed.get_data() == {
        "reason": "DeliveryFailed",
        "message": "delivery to x failed after 4 attempts",
    }


def test_failed_event_id_is_stable() -> None:
    first = outbound.failed(PLACED, events.EMAIL_FAILED, 4, "a")
    again = outbound.failed(PLACED, events.EMAIL_FAILED, 5, "b")
    assert first.get_id() == again.get_id()
