"""Orchestration without I/O: a scripted caller, a recorded reporter, no real sleeping."""

from __future__ import annotations

import asyncio
import datetime
import random

from cloudevents.core.base import BaseCloudEvent

from checkout_core.api import Phase
from checkout_core.events import order_placed
from checkout_core.retries import RetryPolicy
from checkout_core.steps import STEPS, Step
from checkout_operator.calls import Done, Outcome, Refused, Transient
from checkout_operator.orchestration import Caller, Strategy, orchestrate
from checkout_operator.status import Change, Status, StepUpdate, apply, initial

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
POLICY = RetryPolicy(attempts=4, base=1.0, cap=5.0)
ORDER = {"id": "1001"}


class Log:
    """A reporter that applies updates to a status, as the recorder does."""

    def __init__(self, status: Status) -> None:
        self.status = status
        self.updates: list[StepUpdate] = []
        self.sleeps: list[float] = []

    async def report(self, update: StepUpdate) -> None:
        self.updates.append(update)
        self.status = apply(self.status, update)


def script(**outcomes: list[Outcome]) -> tuple[list[str], Caller]:
    calls: list[str] = []
    queues = {name: iter(items) for name, items in outcomes.items()}

    async def call(step: Step, event: BaseCloudEvent) -> Outcome:
        calls.append(step.name)
        await asyncio.sleep(0)
        return next(queues[step.name])

    return calls, call


def run(status: Status, call: Caller, strategy: Strategy = Strategy.PARALLEL) -> Log:
    log = Log(status)

    async def sleep(seconds: float) -> None:
        log.sleeps.append(seconds)

    event = order_placed(ORDER, "ns/c", event_id="e", rewards_member=True)
    asyncio.run(
        orchestrate(
            status,
            event,
            strategy,
            POLICY,
            call,
            log,
            rng=random.Random(7),
            sleep=sleep,
            now=lambda: T0,
        )
    )
    return log


def member() -> Status:
    return initial(STEPS, {"rewardsmember": "true"}, 1, T0)


def test_parallel_runs_every_step_and_succeeds() -> None:
    calls, call = script(
        email=[Done({"messageId": "<m>", "extra": 1})],
        shipment=[Done({"shipmentId": "s"})],
        rewards=[Done({"points": 25, "balance": 37})],
    )
    log = run(member(), call)
    assert sorted(calls) == ["email", "rewards", "shipment"]
    assert log.status.phase is Phase.SUCCEEDED
    assert log.status.step("email").output == {"messageId": "<m>"}
    assert log.status.step("rewards").output == {"points": 25, "balance": 37}
    # all three start before any finishes: they really run at once
    changes = [u.change for u in log.updates]
    assert changes[:3] == [Change.STARTED] * 3


def test_transient_failures_are_retried_with_backoff_then_succeed() -> None:
    calls, call = script(
        email=[Transient("HTTP 503"), Transient("HTTP 503"), Done({"messageId": "<m>"})],
        shipment=[Done({})],
        rewards=[Done({})],
    )
    log = run(member(), call)
    email = log.status.step("email")
    assert (email.phase, email.attempts) == (Phase.SUCCEEDED, 3)
    assert calls.count("email") == 3
    retries = [u for u in log.updates if u.change is Change.RETRYING]
    assert [u.attempt for u in retries] == [1, 2]
    assert "HTTP 503" in retries[0].message
    sleeps = log.sleeps
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # doubling, half jittered


def test_budget_exhausted_fails_the_step_but_not_the_others() -> None:
    _, call = script(
        email=[Done({})],
        shipment=[Transient("connection refused")] * 4,
        rewards=[Done({})],
    )
    log = run(member(), call)
    shipment = log.status.step("shipment")
    assert (shipment.phase, shipment.attempts) == (Phase.FAILED, 4)
    assert "gave up after 4 attempts" in shipment.message
    assert "connection refused" in shipment.message
    assert log.status.step("email").phase is Phase.SUCCEEDED
    assert log.status.phase is Phase.FAILED


def test_refusal_fails_at_once() -> None:
    calls, call = script(
        email=[Refused("RecipientRefused", "550 no such user")],
        shipment=[Done({})],
        rewards=[Done({})],
    )
    log = run(member(), call)
    assert calls.count("email") == 1
    assert log.status.step("email").message == "RecipientRefused: 550 no such user"


def test_sequential_stops_at_the_first_failure() -> None:
    calls, call = script(
        email=[Done({})], shipment=[Refused("CountryNotServed", "no")], rewards=[Done({})]
    )
    log = run(member(), call, Strategy.SEQUENTIAL)
    assert calls == ["email", "shipment"]
    assert log.status.step("rewards").phase is Phase.PENDING
    assert log.status.phase is Phase.FAILED


def test_resumed_checkout_runs_only_unfinished_steps_within_the_same_budget() -> None:
    status = member()
    status = apply(status, StepUpdate("email", Change.SUCCEEDED, T0, 1))
    status = apply(status, StepUpdate("shipment", Change.RETRYING, T0, 3, message="503"))
    calls, call = script(shipment=[Done({"shipmentId": "s"})], rewards=[Done({})])
    log = run(status, call)
    assert sorted(calls) == ["rewards", "shipment"]
    assert log.status.step("shipment").attempts == 4
    assert log.status.phase is Phase.SUCCEEDED


def test_retry_delay_is_capped() -> None:
    rng = random.Random(1)
    delays = [POLICY.delay(n, rng) for n in range(1, 10)]
    assert all(d <= POLICY.cap for d in delays)
    assert delays[-1] >= POLICY.cap / 2
