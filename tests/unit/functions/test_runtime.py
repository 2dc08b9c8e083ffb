"""The shared runtime, in process with a stand-in business logic: which requests reach it, what
each outcome answers, and what /readyz and /metrics say."""

from __future__ import annotations

import datetime
import io
import json
from typing import Any

import pytest
from cloudevents.core.bindings import http
from flask.testing import FlaskClient

from checkout_core import binding, events, steps
from checkout_core.order import Order
from checkout_functions.errors import BadEvent, Refusal, Unavailable
from checkout_functions.runtime import MAX_BODY, Function, Served, create_app
from tests.builders import ORDER as VALID
from tests.builders import order_with
from tests.metrics import sample

STEP = steps.BY_FUNCTION["warehouse"]
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
DONE_AT = datetime.datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)


class Stand:
    """Business logic that records what it was given and does what the test says."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        self.fail: Exception | None = None
        self.ready: Exception | None = None
        self.at: datetime.datetime | None = None

    def handle(self, order: Order) -> Served:
        self.orders.append(order)
        if self.fail is not None:
            raise self.fail
        return Served({"shipmentId": f"s-{order.id}"}, self.at)

    def check(self) -> None:
        if self.ready is not None:
            raise self.ready


@pytest.fixture
def stand() -> Stand:
    return Stand()


@pytest.fixture
def client(stand: Stand) -> FlaskClient:
    return create_app(Function(STEP, stand.handle, (stand.check,))).test_client()


def placed(**attributes: Any) -> dict[str, Any]:
    """order.placed of VALID as a structured-mode JSON object, with `attributes` (and `data`)
    replaced; those set to None are left out."""
    event = events.order_placed(
        VALID, "shop/order-1001", event_id="e-1", rewards_member=True, traceparent=TRACE
    )
    body: dict[str, Any] = json.loads(http.to_structured_event(event).body)
    for name, value in attributes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def post_structured(client: FlaskClient, body: object) -> Any:
    return client.post(
        "/", data=json.dumps(body), headers={"Content-Type": "application/cloudevents+json"}
    )


def test_a_binary_event_gets_the_steps_event_in_binary_mode(
    client: FlaskClient, stand: Stand
) -> None:
    event = events.order_placed(VALID, "shop/order-1001", event_id="e-1", rewards_member=True)
    headers, body = binding.to_http(event)
    response = client.post("/", headers=headers, data=body)
    assert response.status_code == 200
    assert response.headers["ce-type"] == STEP.produces
    assert response.headers["ce-source"] == "/functions/warehouse"
    assert response.headers["ce-subject"] == "1001"
    assert response.headers["ce-checkout"] == "shop/order-1001"
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == {"shipmentId": "s-1001"}
    assert [o.id for o in stand.orders] == ["1001"]


def test_a_structured_event_is_accepted_and_the_trace_travels_on(client: FlaskClient) -> None:
    response = post_structured(client, placed())
    assert response.status_code == 200
    assert response.headers["ce-traceparent"] == TRACE
    assert response.headers["ce-id"] == "e-1/shipment.created"


def test_a_refusal_is_the_failed_event_with_reason_and_message(
    client: FlaskClient, stand: Stand
) -> None:
    stand.fail = Refusal("CountryNotServed", "no shipping to GB")
    response = post_structured(client, placed())
    assert response.status_code == 200
    assert response.headers["ce-type"] == STEP.fails
    assert response.get_json() == {"reason": "CountryNotServed", "message": "no shipping to GB"}


def test_an_unavailable_dependency_is_503_with_retry_after(
    client: FlaskClient, stand: Stand
) -> None:
    stand.fail = Unavailable("database unavailable: connection refused")
    response = post_structured(client, placed())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json() == {
        "error": "database unavailable: connection refused",
        "reason": "Unavailable",
        "eventId": "e-1",
    }


@pytest.mark.parametrize(
    ("body", "reason", "words"),
    [
        (placed(type="com.example.shop.email.sent"), "WrongEventType", "email.sent"),
        (placed(subject=None), "MissingSubject", "subject"),
        (placed(checkout=None), "MissingCheckout", "checkout"),
        (placed(subject="1002"), "SubjectMismatch", "'1002'"),
        (placed(data=order_with(items=[])), "InvalidOrder", "order.items"),
        (placed(data=[VALID]), "InvalidData", "JSON object"),
        (placed(datacontenttype="text/plain", data="an order"), "InvalidData", "text/plain"),
        (placed(id=None), "UnacceptableEvent", "id"),
        (placed(specversion="2.0"), "UnacceptableEvent", "specversion"),
        (placed(specversion=None), "UnacceptableEvent", "specversion"),
        (placed(source=None), "UnacceptableEvent", "source"),
    ],
)
def test_an_event_that_cannot_be_accepted_is_400_naming_the_problem(
    client: FlaskClient, stand: Stand, body: dict[str, Any], reason: str, words: str
) -> None:
    response = post_structured(client, body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["reason"] == reason
    assert words in error["error"]
    assert stand.orders == []


@pytest.mark.parametrize(
    ("headers", "body", "words"),
    [
        ({"Content-Type": "application/cloudevents+json"}, b'{"specversion": "1.0", ', "JSON"),
        ({"Content-Type": "application/cloudevents-batch+json"}, b"[]", "batch"),
        ({"Content-Type": "application/json"}, json.dumps(VALID).encode(), "not a CloudEvent"),
    ],
)
def test_a_body_that_is_not_one_event_is_400(
    client: FlaskClient, stand: Stand, headers: dict[str, str], body: bytes, words: str
) -> None:
    response = client.post("/", headers=headers, data=body)
    assert response.status_code == 400
    assert words in response.get_json()["error"]
    assert stand.orders == []


def test_a_body_too_large_for_an_order_is_400(client: FlaskClient, stand: Stand) -> None:
    body = placed(data=order_with(customer__name="x" * (MAX_BODY + 1)))
    response = post_structured(client, body)
    assert response.status_code == 400
    assert response.get_json()["reason"] == "TooLarge"
    assert stand.orders == []


def chunked(client: FlaskClient, body: bytes) -> Any:
    """POST `body` in binary mode without a Content-Length, as a chunked request reaches the
    app under gunicorn: a stream the server ends (wsgi.input_terminated)."""
    event = events.order_placed(VALID, "shop/order-1001", event_id="e-1", rewards_member=True)
    headers, _ = binding.to_http(event)
    return client.post(
        "/",
        headers={**headers, "Transfer-Encoding": "chunked"},
        input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_body_without_length_over_the_limit_is_400_not_cut_and_served(
    client: FlaskClient, stand: Stand
) -> None:
    # Cut at the limit, this would still be the order followed by spaces: valid JSON.
    body = json.dumps(VALID).encode().ljust(MAX_BODY + 10)
    response = chunked(client, body)
    assert response.status_code == 400
    assert response.get_json()["reason"] == "TooLarge"
    assert stand.orders == []


def test_a_body_without_length_up_to_the_limit_is_read_whole(
    client: FlaskClient, stand: Stand
) -> None:
    response = chunked(client, json.dumps(VALID).encode().ljust(MAX_BODY))
    assert response.status_code == 200, response.get_json()
    assert [o.id for o in stand.orders] == ["1001"]


def test_the_reply_is_timed_when_the_work_was_done(client: FlaskClient, stand: Stand) -> None:
    stand.at = DONE_AT
    first, again = post_structured(client, placed()), post_structured(client, placed())
    assert first.headers["ce-time"] == "2026-01-01T10:00:00.123456Z"
    assert (again.headers["ce-time"], again.get_data()) == (
        first.headers["ce-time"],
        first.get_data(),
    )


def test_a_recorded_refusal_is_timed_when_it_was_recorded(
    client: FlaskClient, stand: Stand
) -> None:
    stand.fail = Refusal("RecipientRefused", "550 no such mailbox", DONE_AT)
    response = post_structured(client, placed())
    assert response.headers["ce-type"] == STEP.fails
    assert response.headers["ce-time"] == "2026-01-01T10:00:00.123456Z"


def test_a_reply_of_work_not_recorded_is_timed_now(client: FlaskClient) -> None:
    before = datetime.datetime.now(datetime.UTC)
    response = post_structured(client, placed())
    stamped = datetime.datetime.fromisoformat(response.headers["ce-time"])
    assert before <= stamped <= datetime.datetime.now(datetime.UTC)


def test_an_order_the_logic_finds_it_can_never_serve_is_400(
    client: FlaskClient, stand: Stand
) -> None:
    stand.fail = BadEvent("InvalidOrder", "the confirmation email cannot be written")
    response = post_structured(client, placed())
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "the confirmation email cannot be written",
        "reason": "InvalidOrder",
        "eventId": "e-1",
    }
    text = client.get("/metrics").get_data(as_text=True)
    assert warehouse(text, "rejected") == 1


def test_binary_data_that_is_not_json_is_400(client: FlaskClient, stand: Stand) -> None:
    event = events.order_placed(VALID, "shop/order-1001", event_id="e-1", rewards_member=True)
    headers, _ = binding.to_http(event)
    response = client.post("/", headers=headers, data=b'{"id": "1001", ')
    assert response.status_code == 400
    assert response.get_json()["reason"] == "InvalidData"
    assert "not valid JSON" in response.get_json()["error"]
    assert stand.orders == []


def test_health_answers_while_readiness_follows_the_dependencies(
    client: FlaskClient, stand: Stand
) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    stand.ready = Unavailable("mail server smtp:25: connection refused")
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "connection refused" in response.get_json()["error"]


def warehouse(text: str, outcome: str, name: str = "checkout_function_events_total") -> float:
    """One sample of the warehouse's metrics."""
    return sample(text, name, function="warehouse", outcome=outcome)


def test_metrics_count_events_by_outcome(client: FlaskClient, stand: Stand) -> None:
    post_structured(client, placed())
    post_structured(client, placed())
    post_structured(client, placed(subject=None))
    stand.fail = Unavailable("down")
    post_structured(client, placed())
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    assert warehouse(text, "succeeded") == 2
    assert warehouse(text, "rejected") == 1
    assert warehouse(text, "unavailable") == 1
    assert warehouse(text, "refused") == 0
    assert (
        sample(
            text,
            "checkout_function_handling_seconds_count",
            function="warehouse",
            outcome="succeeded",
        )
        == 2
    )


def test_a_bug_is_a_500_and_counted_as_an_error(client: FlaskClient, stand: Stand) -> None:
    stand.fail = KeyError("a bug")
    response = post_structured(client, placed())
    assert response.status_code == 500
    text = client.get("/metrics").get_data(as_text=True)
    assert warehouse(text, "error") == 1
