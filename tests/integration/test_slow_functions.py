"""Slow functions, in both modes, on the real components: a function slower than usual but
within the attempt timeout, one that misses the timeout once, and one that always misses it.
A timed-out request may still reach the function (or have done its work already), so these also
check that the functions' idempotency absorbs it: one email, one shipment, one credit per order."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from sqlalchemy import create_engine, text

from checkout_core import binding, broker
from checkout_core.steps import BY_NAME
from checkout_devenv.broker import NatsServer
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.dispatcher import DispatcherProcess
from checkout_devenv.functions import Functions
from checkout_devenv.operator import OperatorProcess
from tests.integration import stream
from tests.integration.checkouts import (
    Body,
    Operators,
    checkout,
    create,
    emails_for,
    order_id,
    steps,
    wait_finished,
)
from tests.integration.relay import Relay

ORCHESTRATION, CHOREOGRAPHY = "Orchestration", "Choreography"
TIMEOUT = 1.0
"""The attempt timeout (CHECKOUT_ATTEMPT_TIMEOUT; in Choreography, the Triggers' delivery
timeout, which the operator fills from it) of the tests that make a function miss it."""
NO_ANSWER = f"no answer within {TIMEOUT:g}s"
"""How both modes name a missed timeout."""
MISSED = {"CHECKOUT_ATTEMPT_TIMEOUT": f"{TIMEOUT:g}", "CHECKOUT_BACKOFF_BASE": "0.1"}
"""Operator settings for a function that takes longer than the attempt timeout."""
TOO_SLOW = 2.5
"""Seconds a slow request is held by its relay: well past TIMEOUT and the first retry, so the
retry is answered before the timed-out request reaches the function (or is answered)."""


@dataclass
class Mode:
    """A Checkout mode with what it needs running: an operator per start(), and in
    Choreography the broker and a dispatcher as well."""

    name: str
    operators: Operators
    nats_url: str = ""

    def start(self, endpoints: Mapping[str, str], **env: str) -> OperatorProcess:
        """An operator calling (or subscribing) `endpoints` instead of those functions."""
        return self.operators.start(urls=endpoints, **env)

    def checkout(self, name: str, order: str, email: str, prices: list[str]) -> Body:
        return checkout(name, order, email, True, prices, mode=self.name)


@pytest.fixture(params=[ORCHESTRATION, CHOREOGRAPHY])
def mode(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    functions: Functions,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Mode]:
    env: dict[str, str] = {}
    dispatcher = None
    nats_url = ""
    if request.param == CHOREOGRAPHY:
        nats: NatsServer = request.getfixturevalue("nats")
        nats_url = nats.url
        env = {"CHECKOUT_NATS_URL": nats.url, "CHECKOUT_NAMESPACE": namespace}
        dispatcher = DispatcherProcess(
            tmp_path, control_plane.kubeconfig, nats.url, namespaces=[namespace]
        )
        dispatcher.start()
    operators = Operators(tmp_path, control_plane.kubeconfig, namespace, functions, env)
    try:
        yield Mode(request.param, operators, nats_url)
    finally:
        operators.stop()
        if dispatcher is not None:
            dispatcher.stop()


RelayFor = Callable[..., Relay]


@pytest.fixture
def relay_for(functions: Functions) -> Iterator[RelayFor]:
    """relay_for(function, **options): a Relay in front of that function, closed at the end of
    the test once nothing is left in it."""
    made: list[Relay] = []

    def make(function: str, **options: Any) -> Relay:
        relay = Relay(functions.urls[function], **options)
        relay.start()
        made.append(relay)
        return relay

    yield make
    for relay in made:
        relay.wait_idle()
        relay.stop()


def all_relayed(relay_for: RelayFor, functions: Functions, **options: Any) -> dict[str, Relay]:
    """A Relay with the same options in front of each function."""
    return {name: relay_for(name, **options) for name in functions.urls}


def urls(relays: Mapping[str, Relay]) -> dict[str, str]:
    return {name: relay.url for name, relay in relays.items()}


QUERIES = {
    "shipments": "SELECT shipment_id FROM warehouse_shipments WHERE order_id = :key",
    "credits": "SELECT points, balance_after FROM reward_credits WHERE order_id = :key",
    "accounts": "SELECT balance FROM reward_accounts WHERE email = :key",
}
"""What the functions wrote, read from their tables (the database's schema, not their code)."""


def rows(functions: Functions, query: str, key: str) -> list[Any]:
    engine = create_engine(functions.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(QUERIES[query]), {"key": key}))
    finally:
        engine.dispose()


def assert_done_once(functions: Functions, body: Body, order: str, email: str) -> None:
    """Each function did its work for the order exactly once, and the status shows that work."""
    output = {name: step.get("output") for name, step in steps(body).items()}
    assert len(emails_for(functions, order)) == 1
    (shipment,) = rows(functions, "shipments", order)
    assert output["shipment"] == {"shipmentId": shipment.shipment_id}
    (credit,) = rows(functions, "credits", order)
    (account,) = rows(functions, "accounts", email)
    # credited once, not once per request that reached the function
    assert (credit.balance_after, account.balance) == (credit.points, credit.points)
    assert output["rewards"] == {"points": credit.points, "balance": account.balance}


def assert_same_replies(relay: Relay, step: str, output: Mapping[str, Any]) -> None:
    """Every success the function answered, the timed-out request's included, is the reply the
    step recorded: a repeated event gets the same reply."""
    produced = BY_NAME[step].produces
    successes = [a for a in relay.answers if a.status == 200]
    assert successes, f"{step}: the function never answered 200: {relay.answers}"
    for answer in successes:
        reply = binding.from_http(answer.headers, answer.body)
        assert reply.get_type() == produced
        data = reply.get_data()
        assert isinstance(data, dict)
        assert BY_NAME[step].output(data) == output, f"{step}: {data} != {output}"


def retrying_messages(api: client.ApiClient, namespace: str, name: str) -> list[str]:
    events = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},reason=StepRetrying"
    )
    return sorted(e.message or "" for e in events.items)


def test_slow_functions_within_the_timeout_succeed_at_the_first_attempt(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    mode: Mode,
    relay_for: RelayFor,
) -> None:
    slow = all_relayed(relay_for, functions, delay=0.8)
    mode.start(urls(slow), CHECKOUT_ATTEMPT_TIMEOUT="3")
    order, email = order_id(), f"slow-{order_id()}@example.com"
    create(api, namespace, mode.checkout("slow", order, email, ["4.20"]))
    body = wait_finished(api, namespace, "slow")

    assert body["status"]["phase"] == "Succeeded", body["status"]
    for name, step in steps(body).items():
        assert (step["phase"], step["attempts"]) == ("Succeeded", 1), (name, step)
        assert step["startedAt"] <= step["completedAt"]
    for relay in slow.values():
        relay.wait_idle()
        assert relay.requests == 1  # slow, but nobody gave up on it and called again
    assert_done_once(functions, body, order, email)
    assert steps(body)["rewards"]["output"] == {"points": 4, "balance": 4}
    if mode.name == ORCHESTRATION:
        assert retrying_messages(api, namespace, "slow") == []


@pytest.mark.parametrize("slow_answer", [False, True], ids=["late-request", "late-answer"])
def test_a_timed_out_first_attempt_is_retried_and_its_work_done_once(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    mode: Mode,
    relay_for: RelayFor,
    slow_answer: bool,
) -> None:
    # Every function misses the timeout once. late-request: the timed-out request reaches the
    # function after the retry did the work. late-answer: the function did the work at once,
    # its answer comes after the timeout, and the retry finds the work done.
    slow = all_relayed(
        relay_for, functions, slow_first=1, slow_delay=TOO_SLOW, slow_answer=slow_answer
    )
    mode.start(urls(slow), **MISSED)
    order, email = order_id(), f"late-{order_id()}@example.com"
    create(api, namespace, mode.checkout("late", order, email, ["7.77"]))
    body = wait_finished(api, namespace, "late")

    assert body["status"]["phase"] == "Succeeded", body["status"]
    condition = body["status"]["conditions"][0]
    assert (condition["type"], condition["status"]) == ("Succeeded", "True")
    for name, step in steps(body).items():
        assert (step["phase"], step["attempts"]) == ("Succeeded", 2), (name, step)
    for relay in slow.values():
        relay.wait_idle()  # the timed-out request has reached the function and been answered
        assert relay.requests == 2
        assert len(relay.answers) == 2
        assert relay.subjects == [order, order]
    assert_done_once(functions, body, order, email)
    assert steps(body)["rewards"]["output"] == {"points": 7, "balance": 7}
    for name, step in steps(body).items():
        assert_same_replies(slow[BY_NAME[name].function], name, step["output"])
    if mode.name == ORCHESTRATION:
        messages = retrying_messages(api, namespace, "late")
        # one retry per step, each for the missed timeout
        expected = [f"{name}: attempt 1 failed: {NO_ANSWER}" for name in sorted(steps(body))]
        assert [m.split(";")[0] for m in messages] == expected


def test_a_function_always_slower_than_the_timeout_fails_its_step_only(
    api: client.ApiClient,
    namespace: str,
    functions: Functions,
    mode: Mode,
    relay_for: RelayFor,
) -> None:
    # Every attempt reaches the function late, after its caller gave up: the work is done
    # (once) but no attempt is answered in time.
    rewards = relay_for("rewards", slow_first=1_000, slow_delay=TOO_SLOW)
    mode.start({"rewards": rewards.url}, CHECKOUT_ATTEMPTS="3", **MISSED)
    order, email = order_id(), f"never-{order_id()}@example.com"
    create(api, namespace, mode.checkout("never", order, email, ["3.00"]))
    body = wait_finished(api, namespace, "never")

    status = body["status"]
    step = steps(body)["rewards"]
    assert status["phase"] == "Failed", status
    assert (step["phase"], step["attempts"]) == ("Failed", 3), step
    assert "after 3 attempts" in step["message"], step
    assert NO_ANSWER in step["message"], step
    if mode.name == ORCHESTRATION:
        assert step["message"] == f"gave up after 3 attempts; last: {NO_ANSWER}"
        messages = retrying_messages(api, namespace, "never")
        assert [m.split(";")[0] for m in messages] == [
            f"rewards: attempt 1 failed: {NO_ANSWER}",
            f"rewards: attempt 2 failed: {NO_ANSWER}",
        ]
    else:
        assert step["message"] == (
            f"DeliveryFailed: delivery to {rewards.url} failed after 3 attempts: {NO_ANSWER}"
        )
        subject = broker.dead_letter_subject(namespace, "checkout-rewards")
        letters = stream.dead_letters(mode.nats_url, subject)
        (letter,) = [e for e in letters if e.get_subject() == order]
        assert letter.get_type() == "com.example.shop.order.placed"
        assert letter.get_extension("knativeerrordest") == rewards.url
        error = base64.b64decode(str(letter.get_extension("knativeerrordata"))).decode()
        assert error == NO_ANSWER
    condition = status["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "StepFailed")
    assert condition["message"] == f"rewards: {step['message']}"
    # the budget, and not one call more
    rewards.wait_idle()
    assert rewards.requests == 3
    # the other steps went on unaffected
    for name in ("email", "shipment"):
        other = steps(body)[name]
        assert (other["phase"], other["attempts"]) == ("Succeeded", 1), other
    assert len(emails_for(functions, order)) == 1
    (shipment,) = rows(functions, "shipments", order)
    assert steps(body)["shipment"]["output"] == {"shipmentId": shipment.shipment_id}
    # each late request reached the function, which credited the order once for all of them
    assert len(rewards.answers) == 3
    (credit,) = rows(functions, "credits", order)
    (account,) = rows(functions, "accounts", email)
    assert (credit.points, credit.balance_after, account.balance) == (3, 3, 3)
