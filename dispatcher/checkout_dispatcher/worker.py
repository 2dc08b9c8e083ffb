"""One Trigger's worker, the life cycle of its consumer: pulls the Trigger's events from its
durable consumer as delivery slots free up, has each settled (see settlement), tells the broker
a slow delivery is still under way, and when stopped lets deliveries in flight finish and hands
the rest back. Replicas bound to the same consumer share its events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from checkout_core import broker
from checkout_core.triggers import Trigger
from checkout_dispatcher.logs import LOGGER
from checkout_dispatcher.resources import Resources
from checkout_dispatcher.settlement import NotHandled, Settlement

log = logging.getLogger(LOGGER)

PAUSE = 1.0
"""Seconds between two tries when the broker or the consumer is not there."""


class Worker:
    """Delivers one Trigger's events until stopped. The Trigger is fixed: a changed Trigger gets
    a new worker."""

    def __init__(self, trigger: Trigger, resources: Resources) -> None:
        self.trigger = trigger
        self._settlement = Settlement(trigger, resources)
        self.js = resources.js
        self.settings = resources.settings
        self.metrics = resources.metrics
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._progress_every = 10.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"worker {self.trigger.key}")

    async def stop(self) -> None:
        """Take no more events, let deliveries in flight finish for the drain timeout, and hand
        the rest back to the broker."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        context = {"trigger": self.trigger.key, "consumer": self.trigger.consumer}
        while not self._stopping.is_set():
            try:
                await self._serve(context)
            except Exception:  # a bug must not silently end the Trigger's delivery
                log.exception("worker failed; starting over", extra=context)
                await self._pause(PAUSE)

    async def _serve(self, context: dict[str, Any]) -> None:
        ack_wait = await self._consumer_ack_wait(context)
        if ack_wait is None:
            return
        # The broker takes an event back when it is not acknowledged within ack_wait; while a
        # delivery is under way, tell it we are still on it well before that.
        self._progress_every = max(0.1, ack_wait / 3)
        subscription = await self.js.pull_subscribe_bind(
            consumer=self.trigger.consumer, stream=broker.STREAM
        )
        log.info("worker started", extra={**context, "subscriber": self.trigger.subscriber_uri})
        try:
            await self._pull(subscription, context)
        finally:
            await self._drain()
            await self._hand_back(subscription)
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()
            log.info("worker stopped", extra=context)

    async def _consumer_ack_wait(self, context: dict[str, Any]) -> float | None:
        """The consumer's ack_wait, once it exists (the operator makes it before it marks the
        Trigger Ready, but a broker restart may hide it for a moment); None when stopped first."""
        while not self._stopping.is_set():
            try:
                info = await self.js.consumer_info(broker.STREAM, self.trigger.consumer)
            except NotFoundError:
                log.warning("consumer not found; waiting for it", extra=context)
            except (nats.errors.Error, TimeoutError) as error:
                log.warning("broker unavailable: %s", error, extra=context)
            else:
                return float(info.config.ack_wait or 30.0)
            await self._pause(PAUSE)
        return None

    async def _pull(
        self, subscription: JetStreamContext.PullSubscription, context: dict[str, Any]
    ) -> None:
        while not self._stopping.is_set():
            free = self.settings.concurrency - len(self._in_flight)
            if free <= 0:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await subscription.fetch(
                    min(self.settings.fetch_batch, free), timeout=self.settings.fetch_wait
                )
            except TimeoutError:
                continue  # nothing to do for now
            except nats.errors.Error as error:
                log.warning("pulling events failed: %s", error, extra=context)
                await self._pause(PAUSE)
                continue
            for message in messages:
                if self._stopping.is_set():
                    # Pulled as we were stopping: straight back, for whoever serves it next.
                    with contextlib.suppress(nats.errors.Error):
                        await message.nak()
                    continue
                task = asyncio.create_task(self._handle(message))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(self._in_flight, timeout=self.settings.drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _hand_back(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Return what pull requests still open bring. The client may stop waiting for a pull
        request that the broker still holds; an event sent to it after we unsubscribed would
        wait out ack_wait before anyone else could have it. So: wait until such requests have
        expired, then hand back whatever they brought. (A fetch that finds messages buffered
        asks the broker for no more than it has at once, and leaves no request open.)"""
        await asyncio.sleep(self.settings.fetch_wait)
        while subscription.pending_msgs > 0:
            try:
                messages = await subscription.fetch(
                    subscription.pending_msgs, timeout=self.settings.fetch_wait
                )
            except (TimeoutError, nats.errors.Error):
                return
            for message in messages:
                with contextlib.suppress(nats.errors.Error):
                    await message.nak()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _handle(self, message: Msg) -> None:
        started = time.monotonic()
        context: dict[str, Any] = {"trigger": self.trigger.key}
        outcome = "unacknowledged"
        keepalive = asyncio.create_task(self._keep_alive(message))
        gauge = self.metrics.in_flight.labels(self.trigger.key)
        gauge.inc()
        try:
            outcome = await self._settlement.settle(message, context)
        except NotHandled as error:
            log.warning("%s; the event will come back", error, extra=context)
            with contextlib.suppress(nats.errors.Error):
                await message.nak(delay=self.trigger.delivery.backoff(error.attempt))
        except asyncio.CancelledError:
            # Stopped mid-delivery: hand the event back now rather than after ack_wait.
            with contextlib.suppress(nats.errors.Error):
                await message.nak()
            raise
        except Exception:  # logged; the unacknowledged event comes back
            outcome = "error"
            log.exception("handling the event failed", extra=context)
        finally:
            keepalive.cancel()
            gauge.dec()
            seconds = time.monotonic() - started
            self.metrics.observe(self.trigger.key, outcome, seconds)
            level = logging.INFO if outcome in ("delivered", "filtered") else logging.WARNING
            log.log(
                level,
                "event %s",
                outcome,
                extra={**context, "outcome": outcome, "durationMs": round(seconds * 1000, 1)},
            )

    async def _keep_alive(self, message: Msg) -> None:
        while True:
            await asyncio.sleep(self._progress_every)
            with contextlib.suppress(nats.errors.Error):
                await message.in_progress()
