"""One Trigger's worker: pulls the Trigger's events from its durable consumer, delivers each to
the subscriber over HTTP, publishes the replies, leaves retries to the broker, dead-letters what
cannot be delivered, and acknowledges an event only once all of that is done. Replicas bound to
the same consumer share its events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

import aiohttp
import nats.errors
from cloudevents.core.base import BaseCloudEvent
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from checkout_core import answers, binding, broker, delivery
from checkout_core.answers import Attempt
from checkout_core.triggers import Trigger
from checkout_dispatcher import outbound, outcomes
from checkout_dispatcher.logs import LOGGER
from checkout_dispatcher.metrics import Metrics
from checkout_dispatcher.outcomes import Acknowledge, GiveUp, Retry
from checkout_dispatcher.settings import Settings

log = logging.getLogger(LOGGER)

ACK_TIMEOUT = 5.0
"""Seconds to wait for the broker to confirm an acknowledgement. Unconfirmed, the event may
come back: harmless (subscribers are idempotent, replies deduplicated), so this only needs to
outlast a busy broker."""
PAUSE = 1.0
"""Seconds between two tries when the broker or the consumer is not there."""
DISPATCH_ERROR = "Dispatch-Error"
"""Header of an unparseable message in the dead-letter stream: why it was not delivered."""


class NotHandled(Exception):
    """The event was delivered or given up, but what must follow (publishing the reply, the
    dead letter or the failed event) failed. The event is not acknowledged and comes back."""


class Worker:
    """Delivers one Trigger's events until stopped. The Trigger is fixed: a changed Trigger gets
    a new worker."""

    def __init__(
        self,
        trigger: Trigger,
        js: JetStreamContext,
        http: aiohttp.ClientSession,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.trigger = trigger
        self.js = js
        self.http = http
        self.settings = settings
        self.metrics = metrics
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
            outcome = await self._settle(message, context)
        except NotHandled as error:
            log.warning("%s; the event will come back", error, extra=context)
            with contextlib.suppress(nats.errors.Error):
                await message.nak(delay=self.trigger.delivery.backoff(context.get("attempt", 1)))
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

    async def _settle(self, message: Msg, context: dict[str, Any]) -> str:
        """Deliver one event and settle it with the broker; returns the outcome's name."""
        number = message.metadata.num_delivered
        context["attempt"] = number
        try:
            event = binding.from_nats(message.headers, message.data)
        except binding.UnacceptableEvent as error:
            context["error"] = str(error)
            await self._dead_letter_unparseable(message, str(error))
            await self._ack(message, context)
            return "unparseable"
        context.update(eventId=event.get_id(), type=event.get_type(), orderId=event.get_subject())
        if not self.trigger.matches(event.get_attributes()):
            await self._ack(message, context)
            return "filtered"
        # In binary mode (how the broker module publishes) the payload is the data as sent.
        headers = {k.lower(): v for k, v in (message.headers or {}).items()}
        structured = headers.get("content-type", "").startswith(binding.STRUCTURED)
        payload = None if structured else message.data

        attempt, reply = await self._deliver(outbound.extended(event, {}, payload))
        context["status"] = attempt.status
        decision = outcomes.decide(
            attempt, number, self.trigger.delivery, self.trigger.subscriber_uri
        )
        match decision:
            case Acknowledge():
                if reply is not None:
                    answer, answer_payload = reply
                    await self._publish(outbound.reply(answer, answer_payload, number), "reply")
                    self.metrics.replies.labels(self.trigger.key).inc()
                    context["reply"] = answer.get_id()
                await self._ack(message, context)
                return "delivered"
            case Retry(delay=delay):
                context.update(error=answers.summary(attempt), retryIn=delay)
                with contextlib.suppress(nats.errors.Error):
                    await message.nak(delay=delay)
                return "retried"
            case GiveUp(reason=reason):
                context["error"] = reason
                await self._give_up(event, payload, attempt, number, reason)
                await self._ack(message, context)
                return "dead_lettered"
        raise AssertionError(f"unknown decision {decision!r}")  # pragma: no cover

    async def _deliver(
        self, event: BaseCloudEvent
    ) -> tuple[Attempt, tuple[BaseCloudEvent, bytes | None] | None]:
        """One attempt, and the reply it brought, if any. A 2xx whose reply is malformed is
        returned as an attempt with an error: a failure retrying cannot mend."""
        trigger = self.trigger
        attempt = await delivery.post(
            self.http, trigger.subscriber_uri, event, trigger.delivery.timeout
        )
        if answers.classify(attempt) is not answers.Outcome.DELIVERED:
            return attempt, None
        try:
            return attempt, outbound.read_reply(attempt.headers, attempt.body)
        except LookupError:
            return attempt, None
        except binding.UnacceptableEvent as error:
            return dataclasses.replace(attempt, error=f"the reply is not usable: {error}"), None

    async def _give_up(
        self,
        event: BaseCloudEvent,
        payload: bytes | None,
        attempt: Attempt,
        number: int,
        reason: str,
    ) -> None:
        """Dead-letter the event, then publish the Trigger's failed event: both before the
        acknowledgement, so a crash in between repeats them rather than losing them."""
        trigger = self.trigger
        letter = outbound.dead_letter(
            event,
            payload,
            trigger.subscriber_uri,
            attempt.status,
            outcomes.error_data(attempt),
        )
        if trigger.dead_letter_uri:
            sent = await delivery.post(
                self.http, trigger.dead_letter_uri, letter, trigger.delivery.timeout
            )
            if answers.classify(sent) is not answers.Outcome.DELIVERED:
                raise NotHandled(
                    f"dead-letter sink {trigger.dead_letter_uri} failed: {answers.summary(sent)}"
                )
        else:
            await self._publish(
                letter,
                "dead letter",
                to=broker.dead_letter_subject(trigger.namespace, trigger.name),
                msg_id=f"{trigger.key}/{event.get_id()}",
            )
        if trigger.delivery.failed_event_type:
            failure = outbound.failed(event, trigger.delivery.failed_event_type, number, reason)
            await self._publish(failure, "failed event")

    async def _dead_letter_unparseable(self, message: Msg, error: str) -> None:
        """Not a CloudEvent, so no sink can take it: the message goes to the Trigger's subject of
        the dead-letter stream as it was, with the reason in a header."""
        headers = dict(message.headers or {})
        headers[DISPATCH_ERROR] = " ".join(error.split())[:1024]
        headers[broker.MSG_ID] = f"{self.trigger.key}/{message.metadata.sequence.stream}"
        subject = broker.dead_letter_subject(self.trigger.namespace, self.trigger.name)
        try:
            await self.js.publish(subject, message.data, headers=headers)
        except (nats.errors.Error, TimeoutError) as failure:
            raise NotHandled(f"publishing the dead letter failed: {failure!r}") from failure

    async def _publish(
        self,
        event: BaseCloudEvent,
        what: str,
        to: str | None = None,
        msg_id: str | None = None,
    ) -> None:
        try:
            await broker.publish(self.js, event, to=to, msg_id=msg_id)
        except (nats.errors.Error, TimeoutError) as error:
            raise NotHandled(f"publishing the {what} failed: {error!r}") from error

    async def _ack(self, message: Msg, context: dict[str, Any]) -> None:
        try:
            await message.ack_sync(timeout=ACK_TIMEOUT)
        except (nats.errors.Error, TimeoutError) as error:
            # Handled all the same; the broker may deliver it again, which costs a duplicate
            # delivery (absorbed by the subscriber) and a deduplicated reply.
            log.warning("acknowledgement not confirmed: %r", error, extra=context)
