"""The repair loop, for what no event announces: Trigger consumers the broker lost, and
Choreography checkouts that stopped moving because it lost their events. Runs every resync
interval while the operator lives."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable

from kubernetes.client.exceptions import ApiException

from checkout_operator.broker_link import BrokerUnavailable
from checkout_operator.checkouts import Checkout
from checkout_operator.choreography import reconcile_trigger
from checkout_operator.context import Context

Clock = Callable[[], datetime.datetime]
log = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def run(context: Context) -> None:
    """Repair every resync interval, forever; a failed round is logged and the next one comes."""
    if not context.broker.configured:
        return
    while True:
        await asyncio.sleep(context.settings.resync_interval)
        try:
            corrected = await resync_triggers(context)
            republished = await republish_stalled(context)
            if corrected or republished:
                log.info(
                    "repaired: %d Trigger status(es) corrected, %d stalled checkout(s) republished",
                    corrected,
                    republished,
                )
        except (BrokerUnavailable, ApiException) as error:
            log.warning("repairs paused: %s: %s", type(error).__name__, error)
        except Exception:
            log.exception("repairs failed; trying again next round")


async def resync_triggers(context: Context, now: Clock = _now) -> int:
    """Make every Trigger's consumer again if the broker lost it (a broker that came back with an
    empty store), and correct any status that says otherwise; returns how many statuses were
    written. A Trigger whose consumer is in place and whose status is right costs no write."""
    namespace = context.settings.namespace
    await context.broker.ensure_streams()  # the consumers need their stream first
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
        await context.broker.publish(event, msg_id=f"{event.get_id()}/republished/{at.isoformat()}")
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
