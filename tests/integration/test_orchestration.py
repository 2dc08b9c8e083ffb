"""Orchestration end to end: the operator as a process on the real API server, calling the three
functions (real gunicorn processes, real SMTP server, real database)."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from checkout_core.api import CHECKOUT_CRD
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.functions import Functions
from checkout_devenv.operator import OperatorProcess
from tests.integration.checkouts import (
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

StartOperator = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(
    control_plane: ControlPlane, functions: Functions, namespace: str, tmp_path: Path
) -> Iterator[StartOperator]:
    """Start an operator watching this test's namespace; `urls` override function URLs."""
    operators = Operators(tmp_path, control_plane.kubeconfig, namespace, functions)
    yield operators.start
    operators.stop()


def test_member_orders_and_a_guest_order_succeed_with_the_contract_outputs(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    start_operator: StartOperator,
    kubectl: Any,
) -> None:
    start_operator()
    member = f"ada-{order_id()}@example.com"
    first, second, guest = order_id(), order_id(), order_id()
    create(api, namespace, checkout("first", first, member, True, ["12.50", "13.49"]))
    one = wait_finished(api, namespace, "first")
    create(api, namespace, checkout("second", second, member, True, ["12.00"]))
    create(api, namespace, checkout("guest", guest, "bob@example.com", False, ["5.00"]))
    wait_succeeded(kubectl, namespace, "second", "guest")
    two, three = get(api, namespace, "second"), get(api, namespace, "guest")

    for body in (one, two, three):
        status = body["status"]
        assert status["phase"] == "Succeeded"
        assert status["progress"] == "3/3"
        assert status["observedGeneration"] == 1
        condition = status["conditions"][0]
        assert (condition["type"], condition["status"]) == ("Succeeded", "True")
        assert status["startedAt"] <= status["completedAt"]
        for step in steps(body).values():
            if step["phase"] != "Skipped":
                assert step["attempts"] == 1
                assert step["startedAt"] <= step["completedAt"]

    # points = whole units of the total (12.50 + 13.49 = 25.99 -> 25); the balance accumulates
    assert steps(one)["rewards"]["output"] == {"points": 25, "balance": 25}
    assert steps(two)["rewards"]["output"] == {"points": 12, "balance": 37}
    assert steps(one)["email"]["output"]["messageId"].startswith("<")
    assert steps(one)["shipment"]["output"]["shipmentId"]
    assert steps(one)["shipment"]["output"] != steps(two)["shipment"]["output"]
    rewards = steps(three)["rewards"]
    assert rewards["phase"] == "Skipped"
    assert "rewardsmember=true does not hold" in rewards["message"]

    for order in (first, second, guest):
        assert len(emails_for(functions, order)) == 1

    # A checkout that succeeds is told in one Event, every step in it.
    told = eventually(lambda: events_of(api, namespace, "guest"), "the guest's Event")
    assert [(e.type, e.reason) for e in told] == [("Normal", "Succeeded")]
    assert re.fullmatch(
        r"Succeeded: email \d+ ms, shipment \d+ ms, rewards skipped", told[0].message or ""
    )


def test_transient_failures_are_retried_until_the_function_answers(
    api: client.ApiClient, namespace: str, functions: Functions, start_operator: StartOperator
) -> None:
    with Relay(functions.urls["warehouse"], fail_first=2) as relay:
        start_operator(urls={"warehouse": relay.url})
        order = order_id()
        create(api, namespace, checkout("flaky", order, "ada@example.com", False, ["1.00"]))
        body = wait_finished(api, namespace, "flaky")
    shipment = steps(body)["shipment"]
    assert body["status"]["phase"] == "Succeeded"
    assert (shipment["phase"], shipment["attempts"]) == ("Succeeded", 3)
    assert relay.requests == 3
    events = events_of(api, namespace, "flaky", "StepRetrying")
    assert len(events) == 2
    assert all("HTTP 503" in (e.message or "") for e in events)


def test_a_function_down_for_the_whole_budget_fails_its_step_only(
    api: client.ApiClient, namespace: str, functions: Functions, start_operator: StartOperator
) -> None:
    start_operator(urls={"rewards": "http://127.0.0.1:9/"})  # nothing listens on port 9
    order = order_id()
    create(api, namespace, checkout("down", order, "ada@example.com", True, ["3.00"]))
    body = wait_finished(api, namespace, "down")
    status = body["status"]
    rewards = steps(body)["rewards"]
    assert status["phase"] == "Failed"
    assert (rewards["phase"], rewards["attempts"]) == ("Failed", 4)
    assert "gave up after 4 attempts" in rewards["message"]
    assert steps(body)["email"]["phase"] == "Succeeded"
    assert steps(body)["shipment"]["phase"] == "Succeeded"
    condition = status["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "StepFailed")
    assert condition["message"].startswith("rewards: gave up after 4 attempts")
    assert len(emails_for(functions, order)) == 1


def test_a_refused_event_fails_the_step_at_once(
    api: client.ApiClient, namespace: str, functions: Functions, start_operator: StartOperator
) -> None:
    # the warehouse's answer is no answer to the email step: an invalid reply, refused at once
    start_operator(urls={"confirmation": functions.urls["warehouse"]})
    order = order_id()
    create(
        api,
        namespace,
        checkout("refused", order, "ada@example.com", True, ["3.00"], strategy="Sequential"),
    )
    body = wait_finished(api, namespace, "refused")
    email = steps(body)["email"]
    assert (email["phase"], email["attempts"]) == ("Failed", 1)
    assert email["message"].startswith("InvalidReply")
    # sequential: what follows a failure is never called
    assert steps(body)["shipment"]["phase"] == "Pending"
    assert steps(body)["rewards"]["phase"] == "Pending"
    assert body["status"]["phase"] == "Failed"


def test_operator_killed_mid_batch_finishes_after_restart_without_repeating_work(
    api: client.ApiClient, namespace: str, functions: Functions, start_operator: StartOperator
) -> None:
    relays = {name: Relay(url, delay=0.3) for name, url in functions.urls.items()}
    for relay in relays.values():
        relay.__enter__()
    try:
        urls = {name: relay.url for name, relay in relays.items()}
        operator = start_operator(urls=urls)
        orders = {f"batch-{n}": order_id() for n in range(12)}
        for name, order in orders.items():
            create(api, namespace, checkout(name, order, f"{name}@example.com", True, ["9.99"]))
        phases = eventually(
            lambda: [phase(get(api, namespace, n)) for n in orders],
            "a checkout Running",
            until=lambda found: "Running" in found,
            interval=0.05,
        )
        operator.kill()
        assert phases.count("Succeeded") < len(orders), "killed too late to test anything"
        start_operator(urls=urls)
        for name, order in orders.items():
            body = wait_finished(api, namespace, name)
            assert body["status"]["phase"] == "Succeeded", body["status"]
            assert len(emails_for(functions, order)) == 1
            points = steps(body)["rewards"]["output"]
            assert points == {"points": 9, "balance": 9}
    finally:
        for relay in relays.values():
            relay.__exit__(None, None, None)


def exists(api: client.ApiClient, namespace: str, name: str) -> bool:
    try:
        get(api, namespace, name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_a_checkout_with_nothing_to_keep_it_is_deleted_once_it_has_finished(
    api: client.ApiClient, namespace: str, start_operator: StartOperator
) -> None:
    # The operator hears of it finishing as it leaves its watch (of unfinished Checkouts only).
    start_operator()
    body = checkout("brief", order_id(), "ada@example.com", True, ["1.00"])
    body["spec"]["ttlSecondsAfterFinished"] = 0
    create(api, namespace, body)
    eventually(lambda: events_of(api, namespace, "brief"), "brief's Event")
    eventually(lambda: not exists(api, namespace, "brief"), "brief to be deleted")
    # it finished first: its Event (which outlives it) says it succeeded
    assert [e.reason for e in events_of(api, namespace, "brief")] == ["Succeeded"]


def test_a_successful_checkout_costs_at_most_four_api_writes(
    api: client.ApiClient,
    namespace: str,
    control_plane: ControlPlane,
    start_operator: StartOperator,
) -> None:
    start_operator()
    assert_write_budget(api, namespace, control_plane, checkout, "counted")


@pytest.fixture
def older_crd(api: client.ApiClient) -> Iterator[None]:
    """The Checkout CRD as an older release might have had it: order ids unchecked. Restored
    after the test."""
    crds = client.ApiextensionsV1Api(api)
    current = crds.read_custom_resource_definition(CHECKOUT_CRD)
    original = api.sanitize_for_serialization(current)
    loose = copy.deepcopy(original)
    order_id_schema = loose["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]["properties"]["order"]["properties"]["id"]
    del order_id_schema["pattern"]
    crds.replace_custom_resource_definition(CHECKOUT_CRD, loose)
    time.sleep(1)  # the API server picks up the new schema
    try:
        yield
    finally:
        latest = crds.read_custom_resource_definition(CHECKOUT_CRD).metadata
        assert latest is not None
        original["metadata"]["resourceVersion"] = latest.resource_version
        crds.replace_custom_resource_definition(CHECKOUT_CRD, original)
        time.sleep(1)


@pytest.mark.usefixtures("older_crd")
def test_an_invalid_order_that_reaches_the_operator_fails_with_the_reason(
    api: client.ApiClient, namespace: str, functions: Functions, start_operator: StartOperator
) -> None:
    start_operator()
    create(api, namespace, checkout("invalid", "not an id!", "ada@example.com", True, ["5"]))
    body = wait_finished(api, namespace, "invalid")
    assert body["status"]["phase"] == "Failed"
    (condition,) = body["status"]["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "InvalidOrder")
    assert "spec.order.id" in condition["message"] and "not an id!" in condition["message"]
    assert {s["phase"] for s in steps(body).values()} == {"Pending"}
    assert emails_for(functions, "not an id!") == []
    time.sleep(2)  # a second look changes nothing and says nothing more
    assert get(api, namespace, "invalid")["status"] == body["status"]
    warnings = events_of(api, namespace, "invalid", "InvalidOrder")
    assert [e.type for e in warnings] == ["Warning"]
