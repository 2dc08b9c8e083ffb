"""Choreography end to end: the operator only configures Triggers and publishes order.placed; the
dispatcher delivers events from NATS JetStream to the real functions and publishes their replies;
the operator projects the event stream into the Checkout's status. Everything real: API server,
broker, dispatcher, gunicorn functions, SMTP server, database."""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from checkout_core import broker
from checkout_core.api import API_VERSION, GROUP, VERSION
from checkout_devenv.broker import NatsServer
from checkout_devenv.controlplane import ControlPlane, spent
from checkout_devenv.dispatcher import DispatcherProcess
from checkout_devenv.functions import Functions
from checkout_devenv.operator import OperatorProcess
from checkout_devenv.processes import free_port
from tests.integration import stream
from tests.integration.checkouts import (
    Body,
    Operators,
    assert_write_budget,
    checkout,
    create,
    emails_for,
    events_of,
    get,
    order_id,
    phase,
    steps,
    wait_finished,
    wait_succeeded,
)
from tests.integration.relay import Relay
from tests.waiting import eventually

TRIGGERS = (GROUP, VERSION)


@pytest.fixture
def dispatcher(
    control_plane: ControlPlane, nats: NatsServer, namespace: str, tmp_path: Path
) -> Iterator[DispatcherProcess]:
    process = DispatcherProcess(
        tmp_path, control_plane.kubeconfig, nats.url, namespaces=[namespace]
    )
    process.start()
    yield process
    process.stop()


StartOperator = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(
    control_plane: ControlPlane,
    functions: Functions,
    nats: NatsServer,
    namespace: str,
    tmp_path: Path,
) -> Iterator[StartOperator]:
    """An operator for this test's namespace, which is also where it keeps the Triggers."""
    broker_env = {"CHECKOUT_NATS_URL": nats.url, "CHECKOUT_NAMESPACE": namespace}
    operators = Operators(tmp_path, control_plane.kubeconfig, namespace, functions, broker_env)
    yield operators.start
    operators.stop()


def choreography(name: str, order: str, email: str, member: bool, prices: list[str]) -> Body:
    return checkout(name, order, email, member, prices, mode="Choreography")


def trigger_status(api: client.ApiClient, namespace: str, name: str) -> Body:
    body = cast(
        Body,
        client.CustomObjectsApi(api).get_namespaced_custom_object(
            *TRIGGERS, namespace, "triggers", name
        ),
    )
    return cast(Body, body.get("status") or {})


def test_member_and_guest_succeed_with_the_same_outputs_as_orchestration(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    start_operator: StartOperator,
    dispatcher: DispatcherProcess,
    kubectl: Any,
) -> None:
    with Relay(functions.urls["rewards"]) as rewards:
        start_operator(urls={"rewards": rewards.url})
        member, guest = order_id(), order_id()
        email = f"ada-{order_id()}@example.com"
        create(api, namespace, choreography("member", member, email, True, ["12.50", "13.49"]))
        create(api, namespace, choreography("guest", guest, "bob@example.com", False, ["5.00"]))
        wait_succeeded(kubectl, namespace, "member", "guest")
    one, two = get(api, namespace, "member"), get(api, namespace, "guest")
    for body in (one, two):
        status = body["status"]
        assert (status["phase"], status["progress"]) == ("Succeeded", "3/3")
        assert status["conditions"][0]["reason"] == "AllStepsSucceeded"
    assert steps(one)["rewards"]["output"] == {"points": 25, "balance": 25}
    assert steps(one)["email"]["output"]["messageId"].startswith("<")
    assert steps(one)["shipment"]["output"]["shipmentId"]
    assert steps(two)["rewards"]["phase"] == "Skipped"
    assert rewards.subjects == [member]  # the guest's order.placed never reached rewards
    assert len(emails_for(functions, member)) == 1
    assert len(emails_for(functions, guest)) == 1
    told = eventually(lambda: events_of(api, namespace, "member"), "the member's Event")
    assert [(e.type, e.reason) for e in told] == [("Normal", "Succeeded")]
    assert re.fullmatch(
        r"Succeeded: email \d+ ms, shipment \d+ ms, rewards \d+ ms", told[0].message or ""
    )


def test_dispatcher_killed_mid_burst_loses_nothing(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    start_operator: StartOperator,
    dispatcher: DispatcherProcess,
) -> None:
    slow = {name: Relay(url, delay=0.2) for name, url in functions.urls.items()}
    for relay in slow.values():
        relay.__enter__()
    try:
        start_operator(urls={name: relay.url for name, relay in slow.items()})
        orders = {f"burst-{n}": order_id() for n in range(15)}
        for name, order in orders.items():
            create(api, namespace, choreography(name, order, f"{name}@example.com", True, ["7.50"]))
        eventually(
            lambda: sum(r.requests for r in slow.values()) >= 3, "3 deliveries", interval=0.02
        )
        dispatcher.kill()
        done = [
            n
            for n in orders
            if (get(api, namespace, n).get("status") or {}).get("phase") == "Succeeded"
        ]
        assert len(done) < len(orders), "killed too late to test anything"
        dispatcher.start()
        for name, order in orders.items():
            body = wait_finished(api, namespace, name)
            assert body["status"]["phase"] == "Succeeded", body["status"]
            assert len(emails_for(functions, order)) == 1
            assert steps(body)["rewards"]["output"] == {"points": 7, "balance": 7}
    finally:
        for relay in slow.values():
            relay.__exit__(None, None, None)


def test_functions_finish_while_the_operator_is_down_and_status_catches_up(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    start_operator: StartOperator,
    dispatcher: DispatcherProcess,
) -> None:
    with Relay(functions.urls["confirmation"], delay=1.5) as slow_mail:
        operator = start_operator(urls={"confirmation": slow_mail.url})
        order = order_id()
        create(api, namespace, choreography("offline", order, "ada@example.com", True, ["4.00"]))
        # The email function has the order: order.placed was published.
        eventually(lambda: slow_mail.requests, "order.placed delivered", interval=0.01)
        operator.stop()
        assert emails_for(functions, order) == []
        eventually(lambda: emails_for(functions, order), "an email while the operator is down")
        assert get(api, namespace, "offline")["status"]["phase"] in ("Pending", "Running")
        start_operator(urls={"confirmation": slow_mail.url})
        body = wait_finished(api, namespace, "offline")
    assert body["status"]["phase"] == "Succeeded"
    assert len(emails_for(functions, order)) == 1


def test_broker_restarted_mid_burst_loses_and_duplicates_nothing(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    nats: NatsServer,
    start_operator: StartOperator,
    dispatcher: DispatcherProcess,
) -> None:
    start_operator()
    orders = {f"restart-{n}": order_id() for n in range(10)}
    email = f"same-{order_id()}@example.com"
    for n, (name, order) in enumerate(orders.items()):
        create(api, namespace, choreography(name, order, email, True, ["1.00"]))
        if n == 4:
            # A restart, as a rollout does it: SIGTERM, then the same store and port. (A SIGKILL
            # can roll back what the broker had not yet written out; see the dispatcher's tests.)
            nats.stop()
            nats.start()
    balances = []
    for name, order in orders.items():
        body = wait_finished(api, namespace, name, timeout=90)
        assert body["status"]["phase"] == "Succeeded", body["status"]
        assert len(emails_for(functions, order)) == 1
        balances.append(steps(body)["rewards"]["output"]["balance"])
    # one credit per order: the balances are exactly 1..10, each once
    assert sorted(balances) == list(range(1, 11))


def test_a_subscriber_failing_past_its_retries_is_dead_lettered(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    nats: NatsServer,
    start_operator: StartOperator,
    dispatcher: DispatcherProcess,
) -> None:
    start_operator(urls={"warehouse": "http://127.0.0.1:9/"}, CHECKOUT_ATTEMPTS="3")
    order = order_id()
    create(api, namespace, choreography("lost", order, "ada@example.com", False, ["2.00"]))
    body = wait_finished(api, namespace, "lost")
    shipment = steps(body)["shipment"]
    assert body["status"]["phase"] == "Failed"
    assert shipment["phase"] == "Failed"
    assert shipment["message"].startswith("DeliveryFailed")
    assert shipment["attempts"] == 3
    assert steps(body)["email"]["phase"] == "Succeeded"
    condition = body["status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "StepFailed")
    dead = broker.dead_letter_subject(namespace, "checkout-shipment")
    letters = stream.dead_letters(nats.url, dead)
    (letter,) = [e for e in letters if e.get_subject() == order]
    assert letter.get_type() == "com.example.shop.order.placed"
    assert letter.get_extension("knativeerrordest") == "http://127.0.0.1:9/"
    error = base64.b64decode(str(letter.get_extension("knativeerrordata"))).decode()
    assert error


def test_editing_and_deleting_a_trigger_updates_and_removes_its_consumer(
    api: client.ApiClient,
    namespace: str,
    nats: NatsServer,
    start_operator: StartOperator,
) -> None:
    start_operator()
    objects = client.CustomObjectsApi(api)
    trigger = {
        "apiVersion": API_VERSION,
        "kind": "Trigger",
        "metadata": {"name": "audit"},
        "spec": {
            "broker": "default",
            "filter": {"attributes": {"type": "com.example.shop.email.sent"}},
            "subscriber": {"uri": "http://127.0.0.1:9/"},
        },
    }
    objects.create_namespaced_custom_object(*TRIGGERS, namespace, "triggers", trigger)
    name = broker.consumer_name(namespace, "audit")

    def consumer_subject() -> str | None:
        info = stream.consumer(nats.url, name)
        return info.config.filter_subject if info else None

    def filtered(expected: str | None) -> None:
        eventually(
            consumer_subject,
            f"the consumer's filter {expected}",
            until=lambda found: found == expected,
        )

    filtered(broker.subject("com.example.shop.email.sent"))
    objects.patch_namespaced_custom_object(
        *TRIGGERS,
        namespace,
        "triggers",
        "audit",
        {"spec": {"filter": {"attributes": {"type": "com.example.shop.points.credited"}}}},
    )
    filtered(broker.subject("com.example.shop.points.credited"))
    eventually(
        lambda: trigger_status(api, namespace, "audit").get("observedGeneration"),
        "the status to observe generation 2",
        until=lambda observed: observed == 2,
    )
    objects.delete_namespaced_custom_object(*TRIGGERS, namespace, "triggers", "audit")
    filtered(None)


def test_a_broker_back_with_an_empty_store_is_restored_and_stranded_checkouts_finish(
    api: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    functions: Functions,
    tmp_path: Path,
) -> None:
    # A broker of its own: this one loses everything it had.
    with NatsServer(tmp_path / "broker") as lossy:
        env = {
            "CHECKOUT_NATS_URL": lossy.url,
            "CHECKOUT_NAMESPACE": namespace,
            "CHECKOUT_RESYNC_INTERVAL": "0.5",
            "CHECKOUT_REPUBLISH_AFTER": "3",
        }
        operators = Operators(tmp_path, control_plane.kubeconfig, namespace, functions, env)
        dispatcher = DispatcherProcess(
            tmp_path, control_plane.kubeconfig, lossy.url, namespaces=[namespace]
        )
        try:
            operators.start()
            dispatcher.start()
            create(api, namespace, choreography("before", order_id(), "a@example.com", True, ["1"]))
            assert wait_finished(api, namespace, "before")["status"]["phase"] == "Succeeded"
            # With nobody delivering, a checkout's order.placed waits in the stream...
            dispatcher.stop()
            stored = stream.stored(lossy.url)
            stranded = order_id()
            create(api, namespace, choreography("stranded", stranded, "b@example.com", True, ["2"]))
            eventually(
                lambda: stream.stored(lossy.url) > stored,
                "order.placed to reach the broker",
            )
            # ...and is lost with the broker's store: streams, consumers and events all gone.
            lossy.kill()
            shutil.rmtree(lossy.store)
            lossy.start()
            dispatcher.start()
            body = wait_finished(api, namespace, "stranded", timeout=90)
            assert body["status"]["phase"] == "Succeeded", body["status"]
            assert steps(body)["rewards"]["output"]["points"] == 2
            assert len(emails_for(functions, stranded)) == 1
            republished = events_of(api, namespace, "stranded", "Republished")
            assert republished, "finished without being republished: nothing was lost?"
            # every Trigger has its consumer again, and a new checkout goes through as before
            for step in ("email", "shipment", "rewards"):
                consumer = broker.consumer_name(namespace, f"checkout-{step}")
                assert stream.consumer(lossy.url, consumer) is not None, consumer
            create(api, namespace, choreography("after", order_id(), "c@example.com", True, ["3"]))
            assert wait_finished(api, namespace, "after")["status"]["phase"] == "Succeeded"
        finally:
            dispatcher.stop()
            operators.stop()


def test_while_the_broker_is_away_a_checkout_waits_recorded_and_costs_no_events(
    api: client.ApiClient, namespace: str, start_operator: StartOperator
) -> None:
    # A broker address nothing answers: the checkout waits, retried every second by Kopf.
    start_operator(CHECKOUT_NATS_URL=f"nats://127.0.0.1:{free_port()}")
    create(api, namespace, choreography("waiting", order_id(), "bob@example.com", False, ["5"]))
    eventually(
        lambda: (get(api, namespace, "waiting").get("status") or {}).get("steps"),
        "a status recorded while the broker is away",
        timeout=30,
    )
    time.sleep(4)  # several of Kopf's retries
    body = get(api, namespace, "waiting")
    assert (body["status"]["phase"], steps(body)["rewards"]["phase"]) == ("Pending", "Skipped")
    # Waiting is no news: nothing is announced until the checkout has something to tell.
    assert events_of(api, namespace, "waiting") == []


@pytest.fixture
def warmed(
    api: client.ApiClient,
    namespace: str,
    start_operator: StartOperator,
    dispatcher: DispatcherProcess,
) -> None:
    """An operator whose Triggers are Ready (one checkout has gone through) and that makes no
    repair round while a test counts requests: those list Triggers on a timer, not per
    checkout."""
    start_operator(CHECKOUT_RESYNC_INTERVAL="3600")
    create(api, namespace, choreography("warm", order_id(), "ada@example.com", False, ["1"]))
    assert phase(wait_finished(api, namespace, "warm")) == "Succeeded"


@pytest.mark.usefixtures("warmed")
def test_a_successful_checkout_costs_at_most_four_api_writes(
    api: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    assert_write_budget(api, namespace, control_plane, choreography, "counted")


@pytest.mark.usefixtures("warmed")
def test_starting_a_checkout_reads_no_trigger_from_the_api(
    api: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    before = control_plane.requests({"LIST", "GET"})
    for n in range(3):
        create(api, namespace, choreography(f"c{n}", order_id(), "ada@example.com", False, ["1"]))
    for n in range(3):
        assert wait_finished(api, namespace, f"c{n}")["status"]["phase"] == "Succeeded"
    read = spent(before, control_plane.requests({"LIST", "GET"}))
    assert {key: n for key, n in read.items() if key[0] == "triggers"} == {}
