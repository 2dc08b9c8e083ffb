"""The status projector: choreography's read model kept up to date. It reads every shop event
from its own durable consumer and projects it into the status of the Checkout it belongs to, so
the business process stays visible although nobody runs it. Events are acknowledged only once
their Checkout's status is written: an operator that was down catches up when it returns."""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

import nats.errors
from cloudevents.core.base import BaseCloudEvent
from kubernetes.client.exceptions import ApiException
from nats.aio.msg import Msg

from checkout_core import binding, broker
from checkout_core.api import CHOREOGRAPHY
from checkout_core.steps import STEPS
from checkout_operator import projection, reporting
from checkout_operator.broker_link import BrokerLink, BrokerUnavailable
from checkout_operator.checkouts import Checkout
from checkout_operator.cluster import Checkouts, Events

NAME = "checkout-projector"
BATCH = 64
CONCURRENCY = 8
IDLE_CHECK = 5
"""Idle fetches (of a second each) between checks that our consumer still exists."""
ACK_WAIT = 10.0
"""Seconds before the broker redelivers what a projector fetched but never acknowledged (it
was killed): long enough for a batch's writes, short enough for a quick catch-up."""
RETRY_DELAY = 1.0
"""Seconds before an event whose status write failed is offered again, and before the projector
starts again after the broker failed it."""
log = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Projector:
    def __init__(self, link: BrokerLink, checkouts: Checkouts, events: Events) -> None:
        self._link = link
        self._checkouts = checkouts
        self._events = events
        self._limit = asyncio.Semaphore(CONCURRENCY)

    async def run_forever(self, before: Callable[[], Awaitable[None]]) -> None:
        """Project until cancelled. It must outlive every other failure: the status of every
        Choreography checkout depends on it, so whatever stops it is logged and it starts again,
        after `before` (the streams, the Triggers) has run again."""
        await self._link.connect()
        while True:
            try:
                await self._link.ensure_streams()
                await before()
                await self.run()
            except (BrokerUnavailable, nats.errors.Error) as error:  # (re)starting broker
                log.warning("projector paused: %s: %s", type(error).__name__, error)
            except Exception:
                log.exception("projector stopped; starting it again")
            await asyncio.sleep(RETRY_DELAY)

    async def run(self) -> None:
        """Consume forever (until cancelled, or until the broker fails us: BrokerUnavailable or
        a NATS error, after which the caller runs us again)."""
        js = self._link.js
        config = broker.consumer_config(NAME, broker.ALL, ack_wait=ACK_WAIT, deliver_all=True)
        await broker.ensure_consumer(js, config)
        subscription = await js.pull_subscribe_bind(durable=NAME, stream=broker.STREAM)
        idle = 0
        while True:
            try:
                messages = await subscription.fetch(BATCH, timeout=1.0)
            except TimeoutError:
                idle += 1
                if idle % IDLE_CHECK == 0:
                    # A broker that lost recent state in a crash may have lost our consumer too;
                    # a missing one raises here, and the caller runs us again to recreate it.
                    await js.consumer_info(broker.STREAM, NAME)
                continue
            idle = 0
            await self.project(messages)

    async def project(self, messages: list[Msg]) -> None:
        """One batch: events grouped by Checkout, one status write per Checkout."""
        groups: dict[tuple[str, str], list[tuple[Msg, BaseCloudEvent]]] = defaultdict(list)
        for message in messages:
            try:
                event = binding.from_nats(message.headers, message.data)
            except binding.UnacceptableEvent as error:
                log.warning("skipping an unreadable message on %s: %s", message.subject, error)
                await message.ack()
                continue
            key = projection.checkout_of(event)
            if key is None:
                await message.ack()  # not a checkout's event: nothing to project
                continue
            groups[key].append((message, event))
        await asyncio.gather(*(self._one(key, items) for key, items in groups.items()))

    async def _one(self, key: tuple[str, str], items: list[tuple[Msg, BaseCloudEvent]]) -> None:
        async with self._limit:
            try:
                await self._apply(key, [event for _, event in items])
            except (ApiException, OSError) as error:
                log.warning("projecting into %s/%s failed (%s); retrying", *key, error)
                await self._retry(items, RETRY_DELAY)
                return
            except Exception:
                # a bug or a Checkout we cannot read: the others' events go on, these wait
                log.exception("cannot project into %s/%s; retrying later", *key)
                await self._retry(items, ACK_WAIT)
                return
            for message, _ in items:
                await message.ack()

    @staticmethod
    async def _retry(items: list[tuple[Msg, BaseCloudEvent]], delay: float) -> None:
        for message, _ in items:
            await message.nak(delay=delay)

    async def _apply(self, key: tuple[str, str], events: list[BaseCloudEvent]) -> None:
        body = await self._checkouts.get(*key)
        if body is None or (body.get("spec") or {}).get("mode") != CHOREOGRAPHY:
            return  # deleted, or not ours to project
        announce = functools.partial(self._events.post, body)
        # Events that outran the operator's first write start from the catalogue, as it does
        # (the order is read only then).
        before, recorded = reporting.begin(
            body.get("status"),
            STEPS,
            lambda: Checkout.from_body(body).placed_event().get_attributes(),
            body["metadata"].get("generation", 1),
            _now(),
            announce,
        )
        current = before
        for event in events:
            for update in projection.updates(event, _now()):
                current = reporting.advance(current, update, announce)
        if current != before or not recorded:
            await self._checkouts.write_status(key[0], key[1], current)
