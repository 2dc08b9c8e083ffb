"""What the operator does with one Checkout, whatever woke it (creation, a restart): read where
the checkout stands, carry out what is left, record every change. Kopf-free: handlers.py passes
in the Kubernetes-facing pieces."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from cloudevents.core.base import BaseCloudEvent
from kubernetes import client

from checkout_core.steps import STEPS, Step
from checkout_operator import calls, cluster, orchestration
from checkout_operator import status as model
from checkout_operator.checkouts import Checkout
from checkout_operator.recorder import Notifier, Recorder
from checkout_operator.settings import Settings


@dataclass
class Context:
    """What the operator sets up once and every reconciliation shares."""

    settings: Settings
    session: aiohttp.ClientSession
    api: client.ApiClient


def describe(update: model.StepUpdate) -> str:
    """The message of the Kubernetes Event that reports a step change."""
    text = {
        model.Change.STARTED: f"attempt {update.attempt} started",
        model.Change.RETRYING: update.message,
        model.Change.SUCCEEDED: f"succeeded on attempt {update.attempt}",
        model.Change.FAILED: f"failed: {update.message}",
        model.Change.SKIPPED: f"skipped: {update.message}",
    }[update.change]
    return f"{update.step}: {text}"


def current_status(checkout: Checkout, notify: Notifier, now: datetime.datetime) -> model.Status:
    """Where the checkout stands: its recorded status, or a fresh one (whose Skipped steps are
    announced here, since no update will ever report them)."""
    recorded = model.from_json(checkout.status)
    if recorded is not None:
        return recorded
    attributes = checkout.placed_event().get_attributes()
    fresh = model.initial(STEPS, attributes, checkout.generation, now)
    for step in fresh.steps:
        if step.phase is model.Phase.SKIPPED:
            notify(
                model.StepUpdate(step.name, model.Change.SKIPPED, now, message=step.message), fresh
            )
    return fresh


async def orchestrate(
    checkout: Checkout,
    context: Context,
    notify: Notifier,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> model.Status:
    """Carry out an Orchestration checkout; returns its final status (already written)."""
    settings = context.settings
    status = current_status(checkout, notify, now())
    if status.finished:
        return status
    event = checkout.placed_event()

    async def call(step: Step, placed: BaseCloudEvent) -> calls.Outcome:
        url = settings.function_url(step.function)
        return await calls.call(context.session, url, step, placed, settings.attempt_timeout)

    policy = orchestration.RetryPolicy(
        settings.attempts, settings.backoff_base, settings.backoff_cap
    )
    writer = cluster.StatusWriter(context.api, checkout)
    async with Recorder(status, writer, notify, settings.status_batch_window) as recorder:
        await orchestration.orchestrate(
            status, event, checkout.strategy, policy, call, recorder, now=now
        )
    return recorder.status
