"""Choreography, the operator's part: lay out the catalogue's Triggers and keep each Trigger's
consumer, then start a checkout by recording its status and publishing `order.placed` — and step
off the data path. The projector turns the events that follow into status."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from checkout_core import broker
from checkout_core.api import CHECKOUT_CRD
from checkout_core.steps import STEPS
from checkout_core.triggers import DEFAULT_BROKER, InvalidTrigger, Trigger
from checkout_operator import projection, reporting, triggers
from checkout_operator import status as model
from checkout_operator.checkouts import Checkout
from checkout_operator.context import Context
from checkout_operator.errors import NotYet

Clock = Callable[[], datetime.datetime]
NO_BROKER = "BrokerNotConfigured: the operator has no broker (CHECKOUT_NATS_URL)"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TriggersNotReady(NotYet):
    """Choreography cannot start yet: some step's Trigger has no consumer."""


async def choreograph(
    checkout: Checkout, body: Mapping[str, Any], context: Context, now: Clock = _now
) -> None:
    """Start a Choreography checkout: make sure the Triggers deliver, hand the status as
    `order.placed` makes it (its steps Running, the way the projector will read the event back) to
    the projector, which records it, and publish the event (acknowledged, deduplicated by its id).
    While it has to wait, the starting status is recorded, so the checkout is seen waiting. Safe
    to run again: the event is the same event, and an operator that stopped before anything was
    recorded finds the Checkout without a status and starts it again."""
    announce = context.announcer(body)
    event = checkout.placed_event()
    status, recorded = reporting.begin(
        checkout.status, STEPS, event.get_attributes, checkout.generation, now(), announce
    )
    if status.finished:
        return

    async def write(status: model.Status) -> None:
        await context.checkouts.write_status(checkout.namespace, checkout.name, status)

    if not context.broker.configured:
        # No broker, no choreography: say so on the Checkout rather than wait forever.
        for name in status.pending():
            update = model.StepUpdate(name, model.Change.FAILED, now(), message=NO_BROKER)
            status = reporting.advance(status, update, announce)
        await write(status)
        return
    try:
        await _deliverable(context)
    except NotYet:
        if not recorded:
            await write(status)
        raise
    placed = status
    for update in projection.updates(event, now()):
        placed = reporting.advance(placed, update, announce)
    # The projector writes it, with what the replies say if they come soon; before the event
    # goes out, so it has in memory what they reply to.
    context.projector.track(body, placed, status if recorded else None)
    await context.broker.publish(event)


async def _deliverable(context: Context) -> None:
    """Raises NotYet unless an event published now reaches every step: the broker answers and
    every Trigger is Ready — as the Trigger handlers saw them, so no read of the API while all is
    well."""
    context.broker.require()
    if context.settings.manage_triggers:
        missing = context.readiness.missing(triggers.name(step) for step in STEPS)
        if missing:
            await ensure_triggers(context)  # one may have been deleted, or edited
            raise TriggersNotReady(f"waiting for Triggers to become Ready: {', '.join(missing)}")


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


def triggers_once(context: Context) -> Callable[[], Awaitable[None]]:
    """Lays out the catalogue's Triggers the first time it is awaited (the projector's first
    start, once the broker answers); later calls do nothing."""
    laid = not context.settings.manage_triggers

    async def lay() -> None:
        nonlocal laid
        if not laid:
            await ensure_triggers(context)
            laid = True

    return lay


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
        await context.broker.ensure_consumer(config)
    elif trigger is not None:
        error = f"broker {trigger.broker!r} does not exist"
    status = triggers.status(body, consumer_error=error, now=now())
    context.readiness.saw(body, status)
    return status


async def remove_trigger(body: Mapping[str, Any], context: Context) -> None:
    """A deleted Trigger's consumer goes with it."""
    meta = body["metadata"]
    context.readiness.forget(meta["name"])
    if not context.broker.configured:
        return
    await context.broker.delete_consumer(broker.consumer_name(meta["namespace"], meta["name"]))
