"""Carrying out an Orchestration checkout: the engine of orchestration.py with real calls to the
functions, every step change reported and the status written in batches by the recorder."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from checkout_core import delivery
from checkout_core.steps import STEPS, Step
from checkout_operator import calls, orchestration, reporting
from checkout_operator import status as model
from checkout_operator.checkouts import Checkout
from checkout_operator.context import Context
from checkout_operator.recorder import Recorder

Clock = Callable[[], datetime.datetime]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def orchestrate(
    checkout: Checkout, body: Mapping[str, Any], context: Context, now: Clock = _now
) -> model.Status:
    """Carry out an Orchestration checkout; returns its final status (already written)."""
    settings = context.settings
    announce = context.announcer(body)
    event = checkout.placed_event()
    status, recorded = reporting.begin(
        checkout.status, STEPS, event.get_attributes, checkout.generation, now(), announce
    )
    if status.finished:
        return status

    async def call(step: Step, placed: BaseCloudEvent) -> calls.Outcome:
        url = settings.function_url(step.function)
        answer = await delivery.post(context.session, url, placed, settings.attempt_timeout)
        return calls.interpret(step, answer)

    async def write(status: model.Status) -> None:
        await context.checkouts.write_status(checkout.namespace, checkout.name, status)

    recorder = Recorder(
        status,
        write,
        announce,
        settings.status_batch_window,
        settings.status_interval,
        recorded=status if recorded else None,
    )
    async with recorder:
        await orchestration.orchestrate(
            status,
            event,
            checkout.strategy,
            settings.retry_policy,
            call,
            recorder,
            sleep=context.turns.pause,  # a checkout waiting out a backoff gives its turn up
            now=now,
        )
    return recorder.status
