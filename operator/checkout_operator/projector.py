"""The status projector: choreography's read model kept up to date. It reads every shop event
from its own durable consumer and projects it into the status of the Checkout it belongs to, so
the business process stays visible although nobody runs it.

Each unfinished Checkout it projects into is held in memory with a recorder (see recorder), which
writes its status the way orchestration's is written: the changes of many events in one write, a
finished status at once. A Checkout the operator has just started is handed over with the status
it wrote, so projecting costs no read of the API; any other is read once. Events are acknowledged
only once a status that includes them is written: an operator that was down catches up when it
returns."""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import urllib.parse
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nats.errors
from cloudevents.core.base import BaseCloudEvent
from kubernetes.client.exceptions import ApiException
from nats.aio.msg import Msg

from checkout_core import binding, broker, events
from checkout_core.api import CHOREOGRAPHY
from checkout_core.steps import STEPS
from checkout_operator import projection, reporting
from checkout_operator.broker_link import BrokerLink, BrokerUnavailable
from checkout_operator.checkouts import Checkout
from checkout_operator.cluster import Checkouts, Events
from checkout_operator.recorder import Recorder
from checkout_operator.status import Status

Key = tuple[str, str]
"""(namespace, name)"""
NAME = "checkout-projector"
PLACED = broker.subject(events.ORDER_PLACED)
CHECKOUT_HEADER = f"ce-{events.CHECKOUT}"
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


@dataclass
class _Open:
    """An unfinished Checkout being projected into."""

    body: Mapping[str, Any]
    recorder: Recorder


class Projector:
    def __init__(
        self,
        link: BrokerLink,
        checkouts: Checkouts,
        events: Events,
        window: float = 0.2,
        interval: float = 1.0,
    ) -> None:
        self._link = link
        self._checkouts = checkouts
        self._events = events
        self._window = window
        self._interval = interval
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self._open: dict[Key, _Open] = {}
        self._settling: set[asyncio.Task[None]] = set()

    def track(self, body: Mapping[str, Any], status: Status, recorded: Status | None) -> None:
        """A Choreography checkout the operator is about to publish `order.placed` for: its
        events are projected onto `status`, with no read, and its recorder writes it (`recorded`
        is what is on the Checkout already, if anything)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if key not in self._open and not status.finished:
            self._open[key] = self._opened(body, status, recorded)

    def watched(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event about a Checkout: a deleted one is projected into no more. One that
        leaves the watch because it finished (its DELETED event shows it as it was before) its
        recorder lets go of once written."""
        if event_type != "DELETED":
            return
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        found = self._open.get(key)
        if found is not None and not found.recorder.status.finished:
            del self._open[key]
            found.recorder.cancel()

    def __len__(self) -> int:
        """Checkouts being projected into."""
        return len(self._open)

    async def run_forever(self, before: Callable[[], Awaitable[None]]) -> None:
        """Project until cancelled. It must outlive every other failure: the status of every
        Choreography checkout depends on it, so whatever stops it is logged and it starts again,
        after `before` (the streams, the Triggers) has run again."""
        await self._link.connect()
        try:
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
        finally:
            await self.close()

    async def close(self) -> None:
        """Write what is unwritten (its events are acknowledged if the broker is still there)."""
        projections, self._open = list(self._open.values()), {}
        await asyncio.gather(*(p.recorder.close() for p in projections), return_exceptions=True)
        await asyncio.gather(*self._settling, return_exceptions=True)

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
        """One batch: events grouped by Checkout, each group fed to its Checkout's recorder and
        acknowledged once written (in the background: the next batch does not wait for it)."""
        groups: dict[Key, list[tuple[Msg, BaseCloudEvent]]] = defaultdict(list)
        for message in messages:
            if found := self._handed_over(message):
                # What it says was applied when the Checkout was handed over: no need to read
                # it, only to acknowledge it once that status is written.
                meta = found.body["metadata"]
                held = (meta["namespace"], meta["name"])
                self._settle_soon(held, found, found.recorder.version, [message])
                continue
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

    async def _one(self, key: Key, items: list[tuple[Msg, BaseCloudEvent]]) -> None:
        messages = [message for message, _ in items]
        try:
            found = self._open.get(key) or await self._read(key)
            if found is None:
                await _ack(messages)  # deleted, or not ours to project
                return
            recorder = found.recorder
            for _, event in items:
                for update in projection.updates(event, _now()):
                    await recorder.report(update)
        except Exception as error:  # noqa: BLE001 - logged by _failed, and offered again
            self._failed(key, messages, error, self._open.get(key))
            return
        self._settle_soon(key, found, recorder.version, messages)

    def _handed_over(self, message: Msg) -> _Open | None:
        """The Checkout in memory an `order.placed` message is about, if any (from its subject and
        its `ce-checkout` header, without parsing the event)."""
        if message.subject != PLACED:
            return None
        value = urllib.parse.unquote((message.headers or {}).get(CHECKOUT_HEADER, ""))
        namespace, _, name = value.partition("/")
        return self._open.get((namespace, name))

    def _settle_soon(self, key: Key, found: _Open, version: int, messages: list[Msg]) -> None:
        task = asyncio.create_task(self._settle(key, found, version, messages))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, key: Key, found: _Open, version: int, messages: list[Msg]) -> None:
        """Acknowledge `messages` once a status with their changes is written; a finished
        Checkout's recorder is then let go."""
        try:
            await found.recorder.written(version)
        except Exception as error:  # noqa: BLE001 - logged by _failed, and offered again
            self._failed(key, messages, error, found)
            return
        await _ack(messages)
        if found.recorder.status.finished and self._open.get(key) is found:
            del self._open[key]
            await found.recorder.close()

    def _failed(self, key: Key, messages: list[Msg], error: Exception, found: _Open | None) -> None:
        """The events are offered again, onto the Checkout read afresh (what `found` holds in
        memory may not be what was written)."""
        if isinstance(error, ApiException | OSError):
            log.warning("projecting into %s/%s failed (%s); retrying", *key, error)
            delay = RETRY_DELAY
        else:
            # a bug or a Checkout we cannot read: the others' events go on, these wait
            log.error("cannot project into %s/%s; retrying later", *key, exc_info=error)
            delay = ACK_WAIT
        if found is not None and self._open.get(key) is found:
            del self._open[key]
            found.recorder.cancel()
        task = asyncio.create_task(_nak(messages, delay))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _read(self, key: Key) -> _Open | None:
        """A Checkout not in memory, read from the API (the operator restarted, or the events
        outran its first write)."""
        async with self._limit:
            body = await self._checkouts.get(*key)
        if body is None or (body.get("spec") or {}).get("mode") != CHOREOGRAPHY:
            return None
        if key in self._open:  # handed over while we read
            return self._open[key]
        announce = functools.partial(self._events.post, body)
        # Events that outran the operator's first write start from the catalogue, as it does
        # (the order is read only then).
        status, recorded = reporting.begin(
            body.get("status"),
            STEPS,
            lambda: Checkout.from_body(body).placed_event().get_attributes(),
            body["metadata"].get("generation", 1),
            _now(),
            announce,
        )
        found = self._opened(body, status, status if recorded else None)
        self._open[key] = found
        return found

    def _opened(self, body: Mapping[str, Any], status: Status, recorded: Status | None) -> _Open:
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]

        async def write(status: Status) -> None:
            await self._checkouts.write_status(namespace, name, status)

        announce = functools.partial(self._events.post, body)
        recorder = Recorder(
            status, write, announce, self._window, self._interval, recorded=recorded
        )
        recorder.start()
        return _Open(body, recorder)


async def _ack(messages: list[Msg]) -> None:
    for message in messages:
        await message.ack()


async def _nak(messages: list[Msg], delay: float) -> None:
    for message in messages:
        await message.nak(delay=delay)
