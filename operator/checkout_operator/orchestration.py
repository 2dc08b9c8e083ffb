"""Orchestration: the operator as the central process. It calls each pending step's function —
all at once, or one after another — retrying transient failures with capped, jittered exponential
backoff within an attempt budget, and reports every change of a step to the status model."""

from __future__ import annotations

import asyncio
import datetime
import enum
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from cloudevents.core.base import BaseCloudEvent

from checkout_core.retries import RetryPolicy
from checkout_core.steps import BY_NAME, Step
from checkout_operator.calls import Done, Outcome, Refused, Transient
from checkout_operator.status import Change, Status, StepUpdate


class Strategy(enum.StrEnum):
    """spec.strategy: how orchestration orders the steps."""

    PARALLEL = "Parallel"
    SEQUENTIAL = "Sequential"


class Reporter(Protocol):
    async def report(self, update: StepUpdate) -> None: ...


Caller = Callable[[Step, BaseCloudEvent], Awaitable[Outcome]]
"""Calls a step's function with the event; the I/O lives behind this."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def orchestrate(
    status: Status,
    event: BaseCloudEvent,
    strategy: Strategy,
    policy: RetryPolicy,
    call: Caller,
    reporter: Reporter,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    now: Callable[[], datetime.datetime] = _now,
) -> None:
    """Run every step of `status` that is not finished yet. Steps finished before (by an earlier
    run of the operator) are not run again; a step interrupted mid-call is called again, which
    the functions' idempotency makes safe."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    async def run(name: str) -> bool:
        step = BY_NAME[name]
        attempt = status.step(name).attempts + 1
        await reporter.report(StepUpdate(name, Change.STARTED, now(), attempt=attempt))
        while True:
            outcome = await call(step, event)
            match outcome:
                case Done(data):
                    update = StepUpdate(
                        name, Change.SUCCEEDED, now(), attempt=attempt, output=step.output(data)
                    )
                    await reporter.report(update)
                    return True
                case Refused(reason, message):
                    update = StepUpdate(
                        name, Change.FAILED, now(), attempt=attempt, message=f"{reason}: {message}"
                    )
                    await reporter.report(update)
                    return False
                case Transient(message) if attempt >= policy.attempts:
                    text = f"gave up after {attempt} attempts; last: {message}"
                    await reporter.report(
                        StepUpdate(name, Change.FAILED, now(), attempt=attempt, message=text)
                    )
                    return False
                case Transient(message):
                    delay = policy.delay(attempt, rng)
                    text = f"attempt {attempt} failed: {message}; retrying in {delay:.1f}s"
                    await reporter.report(
                        StepUpdate(name, Change.RETRYING, now(), attempt=attempt, message=text)
                    )
                    await sleep(delay)
                    attempt += 1

    pending = status.pending()
    if strategy is Strategy.PARALLEL:
        await asyncio.gather(*(run(name) for name in pending))
    else:
        for name in pending:
            if not await run(name):
                break  # as in a serial call chain: what follows a failure is not called
