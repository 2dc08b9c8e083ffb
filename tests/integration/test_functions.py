"""The three functions as real processes (gunicorn, aiosmtpd, SQLite or PostgreSQL): the replies
they give, the requests they refuse, and one side effect per order however often, however
concurrently, an event arrives."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from cloudevents.core.bindings import http
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import Table, create_engine, func, insert, select

from checkout_core import binding, events, steps
from checkout_devenv.functions import NAMES, Functions, FunctionServer, SmtpCatcher
from checkout_devenv.postgres import Postgres
from checkout_devenv.processes import free_port
from checkout_functions import warehouse
from checkout_functions.runtime import MAX_BODY
from checkout_functions.store.emails import confirmation_emails
from checkout_functions.store.points import reward_accounts, reward_credits
from checkout_functions.store.shipments import warehouse_shipments
from tests.metrics import sample

TABLES: dict[str, tuple[Table, ...]] = {
    "confirmation": (confirmation_emails,),
    "warehouse": (warehouse_shipments,),
    "rewards": (reward_credits,),
}
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

# -- the running functions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    with Postgres(tmp_path_factory.mktemp("postgres"), durable=False) as server:
        yield server


@pytest.fixture(scope="module")
def postgres_functions(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Functions]:
    with Functions(tmp_path_factory.mktemp("functions-postgres"), postgres.url) as functions:
        yield functions


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest) -> Functions:
    """The functions on each database the product supports."""
    fixture = {"sqlite": "functions", "postgres": "postgres_functions"}[request.param]
    functions: Functions = request.getfixturevalue(fixture)
    return functions


# -- events and requests ---------------------------------------------------------------------------


def new_id(prefix: str = "o") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def order(
    order_id: str | None = None,
    *,
    email: str | None = None,
    member: bool = True,
    country: str = "GB",
    prices: tuple[str, ...] = ("12.99",),
) -> dict[str, Any]:
    """An order with quantity 2 of one item per price."""
    order_id = order_id or new_id()
    return {
        "id": order_id,
        "customer": {
            "name": "Ada Lovelace",
            "email": email or f"{order_id}@example.com",
            "rewardsMember": member,
        },
        "currency": "EUR",
        "items": [
            {"sku": f"SKU-{n}", "quantity": 2, "unitPrice": price} for n, price in enumerate(prices)
        ],
        "shippingAddress": {
            "line1": "1 Analytical Way",
            "city": "London",
            "postalCode": "N1 9GU",
            "country": country,
        },
    }


def placed(data: dict[str, Any], event_id: str | None = None) -> CloudEvent:
    return events.order_placed(
        data,
        f"shop/order-{data['id']}",
        event_id=event_id or new_id("e"),
        rewards_member=bool(data["customer"]["rewardsMember"]),
        traceparent=TRACE,
    )


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    """Names in lower case."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> Any:
        return binding.from_http(self.headers, self.body)


def request(
    url: str, body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST"
) -> Answer:
    call = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
    for name, value in (headers or {}).items():
        call.add_header(name, value)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return Answer(response.status, lowered(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, lowered(error.headers.items()), error.read())


def lowered(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def chunked(url: str, event: CloudEvent, padding: int) -> Answer:
    """POST `event` in binary mode with `padding` spaces after its JSON data (valid JSON still),
    in chunks of 64 KiB (Transfer-Encoding: chunked, no Content-Length), as a stream would. The
    answer is read while the body is still being written: a server that refuses early closes
    the connection once it has answered (gunicorn drains only a little of an unread body)."""
    headers, body = binding.to_http(event)
    body += b" " * padding
    parts = urllib.parse.urlsplit(url)
    head = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Transfer-Encoding: chunked",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    step = 64 * 1024
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30) as sock:

        def write() -> None:
            try:
                sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                for start in range(0, len(body), step):
                    chunk = body[start : start + step]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # answered and closed early: the answer is read below

        writer = threading.Thread(target=write)
        writer.start()
        try:
            response = HTTPResponse(sock)
            response.begin()
            answer = Answer(response.status, lowered(response.getheaders()), response.read())
        finally:
            writer.join(30)
    return answer


def wire(answer: Answer) -> tuple[dict[str, str], bytes]:
    """What a reply event is made of on the wire: its ce- headers, Content-Type and body."""
    kept = {k: v for k, v in answer.headers.items() if k.startswith("ce-") or k == "content-type"}
    return kept, answer.body


def send(url: str, event: CloudEvent, mode: str = "binary") -> Answer:
    if mode == "binary":
        headers, body = binding.to_http(event)
    else:
        message = http.to_structured_event(event)
        headers, body = dict(message.headers), message.body
    return request(url, body, headers)


def concurrently(count: int, action: Any) -> list[Any]:
    """Run `action(i)` in `count` threads released at the same moment; their results, in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = action(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None for r in results), "a request did not finish"
    return results


# -- what was written ------------------------------------------------------------------------------


def rows(database_url: str, table: Table, **where: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        query = select(table).where(*(table.c[k] == v for k, v in where.items()))
        with engine.connect() as connection:
            return list(connection.execute(query))
    finally:
        engine.dispose()


def footprint(functions: Functions) -> dict[str, int]:
    """How many rows every table of the functions holds, and how many emails arrived."""
    engine = create_engine(functions.database_url)
    try:
        with engine.connect() as connection:
            counts = {
                t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (confirmation_emails, warehouse_shipments, reward_credits, reward_accounts)
            }
    finally:
        engine.dispose()
    return {**counts, "messages": len(functions.smtp.messages())}


def mail_for(catcher: SmtpCatcher, order_id: str) -> list[EmailMessage]:
    return [m for m in catcher.messages() if order_id in str(m["Subject"])]


def side_effects(functions: Functions, name: str, order_id: str) -> int:
    """How many times function `name` did its work for the order."""
    if name == "confirmation":
        return len(mail_for(functions.smtp, order_id))
    (table,) = TABLES[name]
    return len(rows(functions.database_url, table, order_id=order_id))


# -- each function answers a valid event -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_confirmation_sends_one_email_and_replies_email_sent(
    functions: Functions, mode: str
) -> None:
    data = order(prices=("12.99", "0.50"))
    event = placed(data)
    answer = send(functions.urls["confirmation"], event, mode)

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    reply = answer.event
    assert reply.get_type() == events.EMAIL_SENT
    assert reply.get_source() == "/functions/confirmation"
    assert reply.get_subject() == data["id"]
    assert reply.get_extension("checkout") == f"shop/order-{data['id']}"
    assert reply.get_extension("traceparent") == TRACE
    assert reply.get_id() == f"{event.get_id()}/email.sent"
    message_id = f"<order-{data['id']}@shop.example.com>"
    assert reply.get_data() == {"messageId": message_id, "recipient": data["customer"]["email"]}

    (message,) = mail_for(functions.smtp, data["id"])
    assert message["Message-ID"] == message_id
    assert message["To"].addresses[0].addr_spec == data["customer"]["email"]
    assert message["X-RcptTo"] == data["customer"]["email"]
    body = message.get_content()
    assert "2 x SKU-0 at 12.99 EUR = 25.98 EUR" in body
    assert "2 x SKU-1 at 0.50 EUR = 1.00 EUR" in body
    assert "Total: 26.98 EUR" in body


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_warehouse_records_a_shipment_and_replies_shipment_created(
    functions: Functions, mode: str
) -> None:
    data = order(country="FR")
    answer = send(functions.urls["warehouse"], placed(data), mode)

    assert answer.status == 200
    reply = answer.event
    assert reply.get_type() == events.SHIPMENT_CREATED
    assert reply.get_subject() == data["id"]
    assert reply.get_extension("traceparent") == TRACE
    assert reply.get_data() == {"shipmentId": warehouse.shipment_id(data["id"])}
    (shipment,) = rows(functions.database_url, warehouse_shipments, order_id=data["id"])
    assert (shipment.shipment_id, shipment.country) == (warehouse.shipment_id(data["id"]), "FR")


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_rewards_credits_whole_points_and_replies_points_credited(
    functions: Functions, mode: str
) -> None:
    data = order(prices=("12.99",))  # total 25.98: 25 points
    answer = send(functions.urls["rewards"], placed(data), mode)

    assert answer.status == 200
    reply = answer.event
    assert reply.get_type() == events.POINTS_CREDITED
    assert reply.get_subject() == data["id"]
    assert reply.get_data() == {"points": 25, "balance": 25}
    (credit,) = rows(functions.database_url, reward_credits, order_id=data["id"])
    assert (credit.points, credit.balance_after) == (25, 25)


def test_a_non_member_gets_points_failed_and_no_credit(functions: Functions) -> None:
    data = order(member=False)
    for _ in range(2):
        answer = send(functions.urls["rewards"], placed(data))
        assert answer.status == 200
        assert answer.event.get_type() == events.POINTS_FAILED
        assert answer.event.get_data()["reason"] == "NotARewardsMember"
    assert rows(functions.database_url, reward_credits, order_id=data["id"]) == []
    email = data["customer"]["email"]
    assert rows(functions.database_url, reward_accounts, email=email) == []


# -- requests that cannot be accepted --------------------------------------------------------------


def structured(event: CloudEvent, **changes: Any) -> tuple[dict[str, str], bytes]:
    """`event` in structured mode with attributes changed (None: removed)."""
    document = json.loads(http.to_structured_event(event).body)
    for name, value in changes.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    return {"Content-Type": "application/cloudevents+json"}, json.dumps(document).encode()


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name}


def malformed(case: str) -> tuple[str, dict[str, str], bytes]:
    """A bad request of kind `case`, about a fresh order id: (order id, headers, body)."""
    data = order()
    event = placed(data)
    headers, body = binding.to_http(event)
    bad: dict[str, tuple[dict[str, str], bytes]] = {
        "truncated JSON": (structured(event)[0], structured(event)[1][:-20]),
        "no id": structured(event, id=None),
        "no source": (without(headers, "ce-source"), body),
        "not a CloudEvent": ({"Content-Type": "application/json"}, json.dumps(data).encode()),
        "wrong type": structured(event, type=events.SHIPMENT_CREATED),
        "no subject": (without(headers, "ce-subject"), body),
        "no checkout": structured(event, checkout=None),
        "subject is not the order id": ({**headers, "ce-subject": new_id()}, body),
        "invalid order": structured(event, data={**data, "items": []}),
        "order without email": structured(
            event, data={**data, "customer": {"name": "Ada", "rewardsMember": True}}
        ),
        "batch": (
            {"Content-Type": "application/cloudevents-batch+json"},
            json.dumps([json.loads(structured(event)[1])]).encode(),
        ),
        "text data": structured(event, datacontenttype="text/plain", data=data["id"]),
        "data not JSON": (headers, body[:-10]),
    }
    return (data["id"], *bad[case])


MALFORMED = {
    "truncated JSON": ("UnacceptableEvent", "not valid JSON"),
    "no id": ("UnacceptableEvent", "id"),
    "no source": ("UnacceptableEvent", "source"),
    "not a CloudEvent": ("UnacceptableEvent", "not a CloudEvent"),
    "wrong type": ("WrongEventType", events.SHIPMENT_CREATED),
    "no subject": ("MissingSubject", "subject"),
    "no checkout": ("MissingCheckout", "checkout"),
    "subject is not the order id": ("SubjectMismatch", "subject"),
    "invalid order": ("InvalidOrder", "order.items"),
    "order without email": ("InvalidOrder", "order.customer.email"),
    "batch": ("UnacceptableEvent", "batch"),
    "text data": ("InvalidData", "text/plain"),
    "data not JSON": ("InvalidData", "not valid JSON"),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_request_is_400_naming_the_problem_and_writes_nothing(
    functions: Functions, name: str, case: str
) -> None:
    before = footprint(functions)
    order_id, headers, body = malformed(case)

    answer = request(functions.urls[name], body, headers)

    assert answer.status == 400, answer.body
    assert answer.headers["content-type"] == "application/json"
    reason, words = MALFORMED[case]
    assert answer.json()["reason"] == reason
    assert words in answer.json()["error"]
    assert footprint(functions) == before
    assert side_effects(functions, name, order_id) == 0


@pytest.mark.parametrize("name", NAMES)
def test_a_chunked_body_over_the_limit_is_400_too_large_and_writes_nothing(
    functions: Functions, name: str
) -> None:
    before = footprint(functions)
    data = order()
    # A valid order, padded to 5 MB: cut at the limit it would still parse, and be served.
    answer = chunked(functions.urls[name], placed(data), 5 * 1024 * 1024)

    assert answer.status == 400, answer.body
    assert answer.json()["reason"] == "TooLarge"
    assert str(MAX_BODY) in answer.json()["error"]
    assert footprint(functions) == before
    assert side_effects(functions, name, data["id"]) == 0


def test_a_chunked_body_within_the_limit_is_read_whole_and_served(
    functions: Functions,
) -> None:
    data = order()
    event = placed(data)
    size = len(binding.to_http(event)[1])
    answer = chunked(functions.urls["warehouse"], event, MAX_BODY - size)
    assert answer.status == 200, answer.body
    assert answer.event.get_data() == {"shipmentId": warehouse.shipment_id(data["id"])}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Ada\r\nBcc: eve@example.com"),
        ("name", "Ada\nLovelace"),
        ("email", "ada\r\n@example.com"),
        ("line1", "1 Analytical Way\r\nFlat 3"),
    ],
)
def test_an_order_with_a_line_break_in_its_text_is_400_invalid_order_and_sends_nothing(
    functions: Functions, name: str, field: str, value: str
) -> None:
    before = footprint(functions)
    data = order()
    if field == "line1":
        data["shippingAddress"]["line1"] = value
        path = "order.shippingAddress.line1"
    else:
        data["customer"][field] = value
        path = f"order.customer.{field}"

    answer = send(functions.urls[name], placed(data))

    assert answer.status == 400, answer.body
    assert answer.json()["reason"] == "InvalidOrder"
    assert answer.json()["error"].startswith(f"{path}: must not contain control characters")
    assert footprint(functions) == before
    assert side_effects(functions, name, data["id"]) == 0


def test_an_address_outside_ascii_is_sent_with_smtputf8(functions: Functions) -> None:
    data = order(email=f"zoë-{new_id()}@exämple.com")
    answer = send(functions.urls["confirmation"], placed(data))
    assert answer.status == 200, answer.body
    assert answer.event.get_type() == events.EMAIL_SENT
    (message,) = mail_for(functions.smtp, data["id"])
    assert message["X-RcptTo"] == data["customer"]["email"]


# -- idempotency and concurrency, on SQLite and on PostgreSQL --------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_repeated_event_gets_the_same_reply_and_one_side_effect(
    stack: Functions, name: str
) -> None:
    data = order()
    event = placed(data)
    first = send(stack.urls[name], event)
    assert first.status == 200
    assert first.event.get_type() == steps.BY_FUNCTION[name].produces
    # The same event again, in the other mode, and a redelivery under a new event id.
    again = [send(stack.urls[name], event, "structured"), send(stack.urls[name], placed(data))]
    for answer in again:
        assert answer.status == 200
        assert answer.event.get_type() == first.event.get_type()
        assert answer.event.get_data() == first.event.get_data()
    assert again[0].event.get_id() == first.event.get_id()
    assert side_effects(stack, name, data["id"]) == 1


@pytest.mark.parametrize("name", NAMES)
def test_a_repeated_event_gets_the_byte_identical_reply(stack: Functions, name: str) -> None:
    event = placed(order())
    first = send(stack.urls[name], event)
    time.sleep(0.05)  # a reply stamped when it is written would differ now
    again = send(stack.urls[name], event)

    assert (first.status, again.status) == (200, 200)
    assert first.event.get_type() == steps.BY_FUNCTION[name].produces
    assert wire(again) == wire(first)
    assert first.headers["ce-id"] == f"{event.get_id()}/{first.event.get_type().split('.', 3)[3]}"
    # The time is when the work was done, to the microsecond, in UTC.
    assert "." in first.headers["ce-time"]
    assert first.headers["ce-time"].endswith("Z")


def changed(data: dict[str, Any], **customer: Any) -> dict[str, Any]:
    """`data` with customer fields changed: the same order id asking for something else."""
    return {**data, "customer": {**data["customer"], **customer}}


def assert_conflict(answer: Answer, refusal_type: str, message: str) -> None:
    """`answer` refuses a repeat that would do something else: 200, the step's refusal, reason
    ConflictingRepeat, its message starting with `message`."""
    assert answer.status == 200
    assert answer.event.get_type() == refusal_type
    refusal = answer.event.get_data()
    assert refusal["reason"] == "ConflictingRepeat"
    assert refusal["message"].startswith(message)


def test_a_repeat_for_another_recipient_is_refused_and_sends_nothing(stack: Functions) -> None:
    data = order()
    event = placed(data)
    first = send(stack.urls["confirmation"], event)
    assert first.event.get_type() == events.EMAIL_SENT
    old, new = data["customer"]["email"], f"other-{new_id()}@example.com"

    answer = send(stack.urls["confirmation"], placed(changed(data, email=new)))

    assert_conflict(
        answer,
        events.EMAIL_FAILED,
        f"order {data['id']} was already confirmed to {old}; this event asks for {new} in "
        "order.customer.email",
    )
    (message,) = mail_for(stack.smtp, data["id"])
    assert message["X-RcptTo"] == old
    # The first event, repeated, is still told what was done.
    assert wire(send(stack.urls["confirmation"], event)) == wire(first)


def test_a_consistent_repeat_is_told_what_was_done_from_the_record(stack: Functions) -> None:
    data = order()
    first = send(stack.urls["confirmation"], placed(data))
    # The same recipient, another name: the email would be the same email, so this is a repeat.
    again = send(stack.urls["confirmation"], placed(changed(data, name="Augusta Ada King")))
    assert again.event.get_type() == events.EMAIL_SENT
    assert again.event.get_data() == first.event.get_data()
    assert again.headers["ce-time"] == first.headers["ce-time"]
    assert len(mail_for(stack.smtp, data["id"])) == 1


def test_a_repeat_to_another_country_is_refused_and_ships_nothing(stack: Functions) -> None:
    data = order(country="GB")
    first = send(stack.urls["warehouse"], placed(data))
    assert first.event.get_type() == events.SHIPMENT_CREATED
    moved = {**data, "shippingAddress": {**data["shippingAddress"], "country": "FR"}}

    answer = send(stack.urls["warehouse"], placed(moved))

    assert_conflict(
        answer,
        events.SHIPMENT_FAILED,
        f"order {data['id']} was already shipped to GB; this event asks for FR in "
        "order.shippingAddress.country",
    )
    (shipment,) = rows(stack.database_url, warehouse_shipments, order_id=data["id"])
    assert shipment.country == "GB"


def test_a_repeat_crediting_another_account_or_amount_is_refused_and_credits_nothing(
    stack: Functions,
) -> None:
    data = order(prices=("12.99",))  # 25 points
    first = send(stack.urls["rewards"], placed(data))
    assert first.event.get_data() == {"points": 25, "balance": 25}
    old, other = data["customer"]["email"], f"other-{new_id()}@example.com"
    bigger = {**data, "items": [{"sku": "SKU-0", "quantity": 4, "unitPrice": "12.99"}]}

    for asked, words in [
        (changed(data, email=other), f"asks for 25 points to {other} in order.customer.email,"),
        (bigger, f"asks for 51 points to {old} in order.items (the points of its total),"),
    ]:
        answer = send(stack.urls["rewards"], placed(asked))
        already = f"order {data['id']} was already credited 25 points to {old}; this event"
        assert_conflict(answer, events.POINTS_FAILED, f"{already} {words}")

    (credit,) = rows(stack.database_url, reward_credits, order_id=data["id"])
    assert (credit.email, credit.points) == (old, 25)
    assert rows(stack.database_url, reward_accounts, email=other) == []
    (account,) = rows(stack.database_url, reward_accounts, email=old)
    assert account.balance == 25
    # The same customer in other capitals is the same account: a consistent repeat.
    same = send(stack.urls["rewards"], placed(changed(data, email=old.upper())))
    assert same.event.get_data() == first.event.get_data()
    assert same.headers["ce-time"] == first.headers["ce-time"]


def test_repeats_credit_nothing_more(stack: Functions) -> None:
    data = order()
    for _ in range(3):
        assert send(stack.urls["rewards"], placed(data)).event.get_data() == {
            "points": 25,
            "balance": 25,
        }
    (account,) = rows(stack.database_url, reward_accounts, email=data["customer"]["email"])
    assert account.balance == 25


@pytest.mark.parametrize("name", NAMES)
def test_concurrent_duplicates_have_exactly_one_side_effect(stack: Functions, name: str) -> None:
    data = order()
    event = placed(data)
    answers: list[Answer] = concurrently(10, lambda _: send(stack.urls[name], event))

    assert side_effects(stack, name, data["id"]) == 1
    succeeded = [a for a in answers if a.status == 200]
    if name == "confirmation":
        # Duplicates that find the email claimed by a sender still at work are told to retry.
        assert {a.status for a in answers} <= {200, 503}
        for answer in answers:
            if answer.status == 503:
                assert "another request" in answer.json()["error"]
    else:
        assert len(succeeded) == 10
    assert succeeded
    replies = {json.dumps(a.event.get_data(), sort_keys=True) for a in succeeded}
    assert len(replies) == 1
    # Every retry after the fact gets the very same reply.
    later = send(stack.urls[name], event)
    assert later.status == 200
    assert json.dumps(later.event.get_data(), sort_keys=True) in replies
    assert side_effects(stack, name, data["id"]) == 1


def test_a_members_balance_accumulates_over_orders(stack: Functions) -> None:
    email = f"{new_id('ada')}@example.com"
    first = send(stack.urls["rewards"], placed(order(email=email, prices=("12.99",))))
    assert first.event.get_data() == {"points": 25, "balance": 25}
    # The same address in other capitals is the same customer.
    second = send(stack.urls["rewards"], placed(order(email=email.upper(), prices=("5.00",))))
    assert second.event.get_data() == {"points": 10, "balance": 35}


def test_concurrent_orders_of_one_member_all_count(stack: Functions) -> None:
    email = f"{new_id('ada')}@example.com"
    orders = [order(email=email, prices=("1.00",)) for _ in range(10)]  # 2 points each

    answers: list[Answer] = concurrently(
        10, lambda i: send(stack.urls["rewards"], placed(orders[i]))
    )

    assert [a.status for a in answers] == [200] * 10
    balances = sorted(a.event.get_data()["balance"] for a in answers)
    assert balances == list(range(2, 21, 2))
    (account,) = rows(stack.database_url, reward_accounts, email=email)
    assert account.balance == 20


def claim(functions: Functions, order_id: str, age: float) -> None:
    """Leave a claim on the order's email as a sender that is `age` seconds into its work would."""
    engine = create_engine(functions.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(confirmation_emails).values(
                    order_id=order_id,
                    message_id=f"<order-{order_id}@shop.example.com>",
                    recipient=f"{order_id}@example.com",
                    state="claimed",
                    claimed_at=time.time() - age,
                    claim=uuid.uuid4().hex,
                )
            )
    finally:
        engine.dispose()


def test_an_email_claimed_by_a_live_sender_is_503_and_not_sent(stack: Functions) -> None:
    data = order()
    claim(stack, data["id"], age=1)
    answer = send(stack.urls["confirmation"], placed(data))
    assert answer.status == 503
    assert answer.headers["retry-after"] == "1"
    assert "another request" in answer.json()["error"]
    assert mail_for(stack.smtp, data["id"]) == []


def test_an_email_claimed_by_a_crashed_sender_is_taken_over_and_sent(stack: Functions) -> None:
    data = order()
    claim(stack, data["id"], age=3600)
    answer = send(stack.urls["confirmation"], placed(data))
    assert answer.status == 200
    assert answer.event.get_data()["messageId"] == f"<order-{data['id']}@shop.example.com>"
    assert len(mail_for(stack.smtp, data["id"])) == 1
    (row,) = rows(stack.database_url, confirmation_emails, order_id=data["id"])
    assert row.state == "sent"


# -- dependencies that are down --------------------------------------------------------------------


def server(name: str, workdir: Path, **env: str) -> FunctionServer:
    return FunctionServer(
        name, workdir, {"DATABASE_URL": f"sqlite:///{workdir / 'functions.db'}", **env}
    )


def test_confirmation_is_503_and_not_ready_while_smtp_is_down(tmp_path: Path) -> None:
    catcher = SmtpCatcher(tmp_path)  # its port is chosen, nothing listens there yet
    confirmation = server(
        "confirmation", tmp_path, SMTP_HOST=catcher.host, SMTP_PORT=str(catcher.port)
    )
    confirmation.start()
    try:
        data = order()
        down = send(confirmation.url, placed(data))
        assert down.status == 503
        assert down.json()["reason"] == "Unavailable"
        assert "mail server" in down.json()["error"]
        assert request(confirmation.url + "readyz", method="GET").status == 503
        assert request(confirmation.url + "healthz", method="GET").status == 200

        catcher.start()
        assert request(confirmation.url + "readyz", method="GET").status == 200
        # The failed attempt gave its claim back: the retry sends at once.
        up = send(confirmation.url, placed(data))
        assert up.status == 200
        assert up.event.get_type() == events.EMAIL_SENT
        assert len(mail_for(catcher, data["id"])) == 1
    finally:
        confirmation.stop()
        catcher.stop()


class Picky:
    """An SMTP server that refuses some recipients for good (550) and some for now (451)."""

    def __init__(self) -> None:
        self.recipients: list[str] = []

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.recipients.append(address)
        if address.startswith("gone"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        return "250 OK"


@pytest.fixture
def picky(tmp_path: Path) -> Iterator[tuple[Picky, FunctionServer]]:
    handler = Picky()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    confirmation = server(
        "confirmation", tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(controller.port)
    )
    try:
        confirmation.start()
        yield handler, confirmation
    finally:
        confirmation.stop()
        controller.stop()


def test_a_recipient_refused_for_good_is_email_failed_once(
    picky: tuple[Picky, FunctionServer],
) -> None:
    handler, confirmation = picky
    data = order(email="gone@example.com")
    first = send(confirmation.url, placed(data))
    assert first.status == 200
    assert first.event.get_type() == events.EMAIL_FAILED
    assert first.event.get_data()["reason"] == "RecipientRefused"
    assert "550" in first.event.get_data()["message"]
    again = send(confirmation.url, placed(data))
    assert again.event.get_data() == first.event.get_data()
    assert again.headers["ce-time"] == first.headers["ce-time"]
    assert handler.recipients == ["gone@example.com"]


def test_a_recipient_deferred_is_503(picky: tuple[Picky, FunctionServer]) -> None:
    handler, confirmation = picky
    answer = send(confirmation.url, placed(order(email="busy@example.com")))
    assert answer.status == 503
    assert "451" in answer.json()["error"]
    assert handler.recipients == ["busy@example.com"]


class Slow:
    """An SMTP server that takes `seconds` to accept each message, and keeps what it accepted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.accepted: list[str] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.seconds)
        self.accepted.extend(envelope.rcpt_tos)
        return "250 OK"


def test_a_send_slower_than_the_lease_keeps_its_claim_and_duplicates_wait(tmp_path: Path) -> None:
    lease = 1.5
    handler = Slow(seconds=4 * lease)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    confirmation = server(
        "confirmation",
        tmp_path,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(controller.port),
        EMAIL_CLAIM_LEASE_SECONDS=str(lease),
        DATABASE_TIMEOUT_SECONDS="0.5",
    )
    try:
        confirmation.start()
        data = order()
        event = placed(data)
        first: list[Answer] = []
        sender = threading.Thread(target=lambda: first.append(send(confirmation.url, event)))
        sender.start()
        # Duplicates while the send goes on, each long after a lease without renewal would end.
        duplicates = []
        for _ in range(3):
            time.sleep(lease)
            duplicates.append(send(confirmation.url, placed(data)))
        sender.join(30)

        assert [d.status for d in duplicates] == [503] * 3
        assert all("another request" in d.json()["error"] for d in duplicates)
        (answer,) = first
        assert answer.status == 200
        assert answer.event.get_type() == events.EMAIL_SENT
        assert handler.accepted == [data["customer"]["email"]]
        assert wire(send(confirmation.url, event)) == wire(answer)
    finally:
        confirmation.stop()
        controller.stop()


def test_warehouse_refuses_a_country_it_does_not_serve(tmp_path: Path) -> None:
    warehouse_server = server("warehouse", tmp_path, WAREHOUSE_COUNTRIES="GB,IE")
    warehouse_server.start()
    try:
        refused = order(country="FR")
        answer = send(warehouse_server.url, placed(refused))
        assert answer.status == 200
        assert answer.event.get_type() == events.SHIPMENT_FAILED
        assert answer.event.get_data()["reason"] == "CountryNotServed"
        database_url = warehouse_server.env["DATABASE_URL"]
        assert rows(database_url, warehouse_shipments, order_id=refused["id"]) == []
        served = send(warehouse_server.url, placed(order(country="IE")))
        assert served.event.get_type() == events.SHIPMENT_CREATED
    finally:
        warehouse_server.stop()


def test_a_database_that_goes_away_is_503_until_it_is_back(tmp_path: Path) -> None:
    with Postgres(tmp_path / "postgres", durable=False) as database:
        rewards = FunctionServer("rewards", tmp_path, {"DATABASE_URL": database.url})
        rewards.start()
        try:
            assert send(rewards.url, placed(order())).status == 200
            database.stop()
            data = order()
            down = send(rewards.url, placed(data))
            assert down.status == 503
            assert "database unavailable" in down.json()["error"]
            assert request(rewards.url + "readyz", method="GET").status == 503
            database.start()
            assert request(rewards.url + "readyz", method="GET").status == 200
            assert send(rewards.url, placed(data)).event.get_data() == {"points": 25, "balance": 25}
        finally:
            rewards.stop()


# -- health, metrics, logs, and the harness itself -------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_health_readiness_and_metrics_answer(functions: Functions, name: str) -> None:
    url = functions.urls[name]
    assert request(url + "healthz", method="GET").json() == {"status": "ok"}
    assert request(url + "readyz", method="GET").json() == {"status": "ok"}

    def count(outcome: str) -> float:
        text = request(url + "metrics", method="GET").body.decode()
        return sample(text, "checkout_function_events_total", function=name, outcome=outcome)

    succeeded, rejected = count("succeeded"), count("rejected")
    assert send(url, placed(order())).status == 200
    assert request(url, b"{}", {"Content-Type": "application/cloudevents+json"}).status == 400
    assert (count("succeeded"), count("rejected")) == (succeeded + 1, rejected + 1)


def test_logs_are_json_lines_carrying_order_and_event_ids(functions: Functions) -> None:
    event = placed(order())
    assert send(functions.urls["warehouse"], event).status == 200
    log = functions.workdir / "logs" / "warehouse.log"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    (entry,) = [e for e in entries if e.get("eventId") == event.get_id()]
    assert entry["orderId"] == event.get_subject()
    assert entry["outcome"] == "succeeded"
    assert entry["level"] == "INFO"


def test_a_killed_function_restarts_on_the_same_url(tmp_path: Path) -> None:
    warehouse_server = server("warehouse", tmp_path)
    warehouse_server.start()
    try:
        url = warehouse_server.url
        data = order()
        first = send(url, placed(data))
        warehouse_server.kill()
        assert not warehouse_server.running()
        warehouse_server.start()
        assert warehouse_server.url == url
        assert send(url, placed(data)).event.get_data() == first.event.get_data()
    finally:
        warehouse_server.stop()
    assert not warehouse_server.running()
