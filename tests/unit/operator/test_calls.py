"""What a function's HTTP answer means for a step."""

from __future__ import annotations

import json
from typing import Any

import pytest

from checkout_core import binding, events
from checkout_core.answers import Attempt
from checkout_core.steps import BY_NAME
from checkout_operator.calls import Done, Refused, Transient, interpret

EMAIL = BY_NAME["email"]
PLACED = events.order_placed({"id": "1"}, "ns/c", event_id="e", rewards_member=False)


def answer(event_type: str, data: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    return binding.to_http(events.reply(PLACED, event_type, "/functions/x", data))


def test_success_reply_is_done_with_its_data() -> None:
    headers, body = answer(events.EMAIL_SENT, {"messageId": "<m>"})
    assert interpret(EMAIL, Attempt(200, body, headers)) == Done({"messageId": "<m>"})


def test_failed_reply_is_a_refusal_with_its_reason() -> None:
    headers, body = answer(events.EMAIL_FAILED, events.failure("RecipientRefused", "550"))
    assert interpret(EMAIL, Attempt(200, body, headers)) == Refused("RecipientRefused", "550")


def test_reply_of_another_step_is_refused() -> None:
    headers, body = answer(events.SHIPMENT_CREATED, {})
    outcome = interpret(EMAIL, Attempt(200, body, headers))
    assert isinstance(outcome, Refused) and outcome.reason == "InvalidReply"


def test_200_without_an_event_is_refused() -> None:
    outcome = interpret(EMAIL, Attempt(200, b"ok", {"Content-Type": "text/plain"}))
    assert isinstance(outcome, Refused) and outcome.reason == "InvalidReply"


def test_400_is_refused_with_the_functions_error() -> None:
    body = json.dumps({"error": "order.items: must be a list"}).encode()
    outcome = interpret(EMAIL, Attempt(400, body, {"Content-Type": "application/json"}))
    assert outcome == Refused(
        "EventRejected", "the function refused the event: HTTP 400: order.items: must be a list"
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 404, 429])
def test_server_errors_and_retryable_client_errors_are_transient(status: int) -> None:
    outcome = interpret(EMAIL, Attempt(status, b'{"error": "database down"}', {}))
    assert isinstance(outcome, Transient)
    assert str(status) in outcome.message
