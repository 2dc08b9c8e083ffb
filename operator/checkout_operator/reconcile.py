"""What the operator does with one object, whatever woke it (creation, a restart): carry out an
Orchestration checkout, start a Choreography one, keep a Trigger's consumer. Kopf-free:
handlers.py only routes cluster events here."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from cloudevents.core.base import BaseCloudEvent
from kubernetes import client

from checkout_core import broker
from checkout_core.api import CHECKOUT_CRD, Phase
from checkout_core.steps import STEPS, Step
from checkout_core.triggers import DEFAULT_BROKER, InvalidTrigger, Trigger
from checkout_operator import calls, orchestration, triggers
from checkout_operator import status as model
from checkout_operator.broker_link import BrokerLink
from checkout_operator.checkouts import Checkout
from checkout_operator.cluster import Checkouts, Events, Triggers
from checkout_operator.recorder import Recorder
from checkout_operator.settings import Settings
from checkout_operator.stalls import Stalls

Clock = Callable[[], datetime.datetime]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TriggersNotReady(RuntimeError):
    """Choreography cannot start yet: some step's Trigger has no consumer."""


@dataclass
class Context:
    """What the operator sets up once and every reconciliation shares."""

    settings: Settings
    session: aiohttp.ClientSession
    api: client.ApiClient
    broker: BrokerLink
    checkouts: Checkouts
    events: Events
    triggers: Triggers
    stalls: Stalls

    @classmethod
    def create(cls, settings: Settings, api: client.ApiClient) -> Context:
        return cls(
            settings=settings,
            session=aiohttp.ClientSession(),
            api=api,
            broker=BrokerLink(settings.nats_url),
            checkouts=Checkouts(api),
            events=Events(api),
            triggers=Triggers(api),
            stalls=Stalls(settings.republish_after),
        )

    def report(self, body: Mapping[str, Any]) -> Callable[[model.StepUpdate, model.Status], None]:
        """A notifier that posts each step change as a Kubernetes Event on `body`."""

        def notify(update: model.StepUpdate, _status: model.Status) -> None:
            failed = update.change in (model.Change.FAILED, model.Change.RETRYING)
            self.events.post(
                body, "Warning" if failed else "Normal", str(update.change), describe(update)
            )

        return notify


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


def current_status(
    checkout: Checkout,
    notify: Callable[[model.StepUpdate, model.Status], None],
    now: datetime.datetime,
) -> tuple[model.Status, bool]:
    """Where the checkout stands, and whether that was recorded. A fresh status's Skipped steps
    are announced here, since no update will ever report them."""
    recorded = model.from_json(checkout.status)
    if recorded is not None:
        return recorded, True
    attributes = checkout.placed_event().get_attributes()
    fresh = model.initial(STEPS, attributes, checkout.generation, now)
    for step in fresh.steps:
        if step.phase is Phase.SKIPPED:
            notify(
                model.StepUpdate(step.name, model.Change.SKIPPED, now, message=step.message), fresh
            )
    return fresh, False


async def orchestrate(
    checkout: Checkout, body: Mapping[str, Any], context: Context, now: Clock = _now
) -> model.Status:
    """Carry out an Orchestration checkout; returns its final status (already written)."""
    settings = context.settings
    notify = context.report(body)
    status, _ = current_status(checkout, notify, now())
    if status.finished:
        return status
    event = checkout.placed_event()

    async def call(step: Step, placed: BaseCloudEvent) -> calls.Outcome:
        url = settings.function_url(step.function)
        return await calls.call(context.session, url, step, placed, settings.attempt_timeout)

    async def write(status: model.Status) -> None:
        await context.checkouts.write_status(checkout.namespace, checkout.name, status)

    policy = orchestration.RetryPolicy(
        settings.attempts, settings.backoff_base, settings.backoff_cap
    )
    async with Recorder(status, write, notify, settings.status_batch_window) as recorder:
        await orchestration.orchestrate(
            status, event, checkout.strategy, policy, call, recorder, now=now
        )
    return recorder.status


async def choreograph(
    checkout: Checkout, body: Mapping[str, Any], context: Context, now: Clock = _now
) -> None:
    """Start a Choreography checkout: make sure the triggers deliver, record the starting
    status, publish `order.placed` (acknowledged, deduplicated by its id) — and step off the data
    path. The projector takes it from there. Safe to run again: the event is the same event."""
    notify = context.report(body)
    status, recorded = current_status(checkout, notify, now())
    if status.finished:
        return
    if not context.broker.configured:
        # No broker, no choreography: say so on the Checkout rather than wait forever.
        for name in status.pending():
            update = model.StepUpdate(
                name,
                model.Change.FAILED,
                now(),
                message="BrokerNotConfigured: the operator has no broker (CHECKOUT_NATS_URL)",
            )
            status = model.apply(status, update)
            notify(update, status)
        await context.checkouts.write_status(checkout.namespace, checkout.name, status)
        return
    js = context.broker.js  # raises BrokerUnavailable while (re)connecting
    if context.settings.manage_triggers:
        await ensure_triggers(context)
        missing = await unready_triggers(context)
        if missing:
            raise TriggersNotReady(f"waiting for Triggers to become Ready: {', '.join(missing)}")
    if not recorded:
        await context.checkouts.write_status(checkout.namespace, checkout.name, status)
    await broker.publish(js, checkout.placed_event())


async def ensure_triggers(context: Context) -> None:
    """Create or repair the catalogue's Triggers; a Trigger that is as we want it costs no
    write."""
    settings = context.settings
    existing = {
        t["metadata"]["name"]: t
        for t in await context.triggers.list(
            settings.namespace, f"{triggers.MANAGED_BY}={triggers.OPERATOR}"
        )
    }
    wanted = triggers.desired(STEPS, settings)
    stale = [
        t
        for t in wanted
        if t["metadata"]["name"] not in existing
        or triggers.spec_differs(existing[t["metadata"]["name"]], t)
    ]
    if not stale:
        return
    owner = await context.triggers.owner(CHECKOUT_CRD)
    for trigger in triggers.desired(STEPS, settings, owner):
        if any(t["metadata"]["name"] == trigger["metadata"]["name"] for t in stale):
            await context.triggers.apply(trigger)


async def unready_triggers(context: Context) -> list[str]:
    """Names of the catalogue's Triggers that are not (yet) Ready."""
    settings = context.settings
    found = await context.triggers.list(
        settings.namespace, f"{triggers.MANAGED_BY}={triggers.OPERATOR}"
    )
    ready = set()
    for body in found:
        try:
            if Trigger.from_body(body).ready:
                ready.add(body["metadata"]["name"])
        except InvalidTrigger:
            continue
    return [name for step in STEPS if (name := triggers.name(step)) not in ready]


async def reconcile_trigger(
    body: Mapping[str, Any], context: Context, now: Clock = _now
) -> dict[str, Any]:
    """Make a Trigger's durable consumer match it; returns the Trigger's new status."""
    error: str | None = None
    try:
        trigger = Trigger.from_body({**body, "status": {}})
    except InvalidTrigger as invalid:
        trigger, error = None, str(invalid)
    if not context.broker.configured:
        error = "the operator has no broker (CHECKOUT_NATS_URL)"
    elif trigger is not None and trigger.broker == DEFAULT_BROKER:
        config = broker.consumer_config(
            trigger.consumer, trigger.filter_subject, ack_wait=triggers.ack_wait(trigger)
        )
        await broker.ensure_consumer(context.broker.js, config)
    elif trigger is not None:
        error = f"broker {trigger.broker!r} does not exist"
    return triggers.status(body, consumer_error=error, now=now())


async def resync_triggers(context: Context, now: Clock = _now) -> int:
    """Make every Trigger's consumer again if the broker lost it (a broker that came back with an
    empty store), and correct any status that says otherwise; returns how many statuses were
    written. A Trigger whose consumer is in place and whose status is right costs no write."""
    namespace = context.settings.namespace
    await broker.ensure_streams(context.broker.js)  # the consumers need their stream first
    written = 0
    for body in await context.triggers.list(namespace, ""):
        if body["metadata"].get("deletionTimestamp"):
            continue  # its consumer is on its way out with it
        status = await reconcile_trigger(body, context, now)
        recorded = body.get("status") or {}
        if any(recorded.get(field) != value for field, value in status.items()):
            await context.triggers.write_status(namespace, body["metadata"]["name"], status)
            written += 1
    return written


async def republish_stalled(context: Context, now: Clock = _now) -> int:
    """Publish the `order.placed` of every stalled Choreography checkout (see stalls) again, as
    a new message carrying the same event (the broker would drop a repeat of the first message
    as a duplicate), and say so on the Checkout; returns how many."""
    stalled = context.stalls.due(now())
    for body in stalled:
        event = Checkout.from_body(body).placed_event()
        at = now()
        await broker.publish(
            context.broker.js, event, msg_id=f"{event.get_id()}/republished/{at.isoformat()}"
        )
        meta = body["metadata"]
        context.stalls.republished(meta["namespace"], meta["name"], at)
        context.events.post(
            body,
            "Warning",
            "Republished",
            f"no step changed for {context.settings.republish_after:g}s: "
            "order.placed published again",
        )
    return len(stalled)


async def remove_trigger(body: Mapping[str, Any], context: Context) -> None:
    """A deleted Trigger's consumer goes with it."""
    if not context.broker.configured:
        return
    meta = body["metadata"]
    await broker.delete_consumer(
        context.broker.js, broker.consumer_name(meta["namespace"], meta["name"])
    )
