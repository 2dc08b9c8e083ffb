"""Settling one event of a Trigger: deliver it to the subscriber, then, as the answer decides,
publish the reply and acknowledge, hand it back to the broker for a later attempt, or dead-letter
it (and publish the failed event) and acknowledge. Whatever must follow a delivery happens before
its acknowledgement, so a crash in between repeats it rather than losing it."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

import nats.errors
from cloudevents.core.base import BaseCloudEvent
from nats.aio.msg import Msg

from checkout_core import answers, binding, broker, delivery
from checkout_core.answers import Attempt
from checkout_core.triggers import Trigger
from checkout_dispatcher import outbound, outcomes
from checkout_dispatcher.logs import LOGGER
from checkout_dispatcher.outcomes import Acknowledge, GiveUp, Retry
from checkout_dispatcher.resources import Resources

log = logging.getLogger(LOGGER)

ACK_TIMEOUT = 5.0
"""Seconds to wait for the broker to confirm an acknowledgement. Unconfirmed, the event may
come back: harmless (subscribers are idempotent, replies deduplicated), so this only needs to
outlast a busy broker."""
DISPATCH_ERROR = "Dispatch-Error"
"""Header of an unparseable message in the dead-letter stream: why it was not delivered."""


class NotHandled(Exception):
    """The event was delivered or given up, but what must follow (publishing the reply, the
    dead letter or the failed event) failed. The event is not acknowledged and comes back after
    the backoff of its attempt."""

    def __init__(self, message: str, attempt: int) -> None:
        super().__init__(message)
        self.attempt = attempt


class Settlement:
    """Settles the events of one Trigger."""

    def __init__(self, trigger: Trigger, resources: Resources) -> None:
        self.trigger = trigger
        self.js = resources.js
        self.http = resources.http
        self.metrics = resources.metrics
        self.attempts = resources.attempts

    async def settle(self, message: Msg, context: dict[str, Any]) -> str:
        """Deliver one event and settle it with the broker; returns the outcome's name.
        `context` collects what the log line about it carries."""
        trigger = self.trigger
        try:
            event = binding.from_nats(message.headers, message.data)
        except binding.UnacceptableEvent as error:
            context["error"] = str(error)
            await self._dead_letter_unparseable(message, str(error))
            await self._ack(message, context)
            return "unparseable"
        context.update(eventId=event.get_id(), type=event.get_type(), orderId=event.get_subject())
        if not trigger.matches(event.get_attributes()):
            await self._ack(message, context)
            return "filtered"
        # In binary mode (how the broker module publishes) the payload is the data as sent.
        headers = {k.lower(): v for k, v in (message.headers or {}).items()}
        structured = headers.get("content-type", "").startswith(binding.STRUCTURED)
        payload = None if structured else message.data

        number = await self.attempts.made(trigger.consumer, message) + 1
        context["attempt"] = number
        attempt, reply = await self._deliver(outbound.extended(event, {}, payload))
        context["status"] = attempt.status
        decision = outcomes.decide(attempt, number, trigger.delivery, trigger.subscriber_uri)
        match decision:
            case Acknowledge():
                if reply is not None:
                    answer, answer_payload = reply
                    published = outbound.reply(answer, answer_payload, number)
                    await self._publish(published, "reply", number)
                    self.metrics.replies.labels(trigger.key).inc()
                    context["reply"] = answer.get_id()
                await self._settled(message, context)
                return "delivered"
            case Retry(delay=delay):
                context.update(error=answers.summary(attempt), retryIn=delay)
                await self.attempts.record(trigger.consumer, message, number)
                with contextlib.suppress(nats.errors.Error):
                    await message.nak(delay=delay)
                return "retried"
            case GiveUp(reason=reason):
                context["error"] = reason
                await self._give_up(event, payload, attempt, number, reason)
                await self._settled(message, context)
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
        """Dead-letter the event, then publish the Trigger's failed event."""
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
                    f"dead-letter sink {trigger.dead_letter_uri} failed: {answers.summary(sent)}",
                    number,
                )
        else:
            await self._publish(
                letter,
                "dead letter",
                number,
                to=broker.dead_letter_subject(trigger.namespace, trigger.name),
                msg_id=f"{trigger.key}/{event.get_id()}",
            )
        if trigger.delivery.failed_event_type:
            failure = outbound.failed(event, trigger.delivery.failed_event_type, number, reason)
            await self._publish(failure, "failed event", number)

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
            raise NotHandled(f"publishing the dead letter failed: {failure!r}", 1) from failure

    async def _publish(
        self,
        event: BaseCloudEvent,
        what: str,
        attempt: int,
        to: str | None = None,
        msg_id: str | None = None,
    ) -> None:
        try:
            await broker.publish(self.js, event, to=to, msg_id=msg_id)
        except (nats.errors.Error, TimeoutError) as error:
            raise NotHandled(f"publishing the {what} failed: {error!r}", attempt) from error

    async def _settled(self, message: Msg, context: dict[str, Any]) -> None:
        await self._ack(message, context)
        await self.attempts.forget(self.trigger.consumer, message)

    async def _ack(self, message: Msg, context: dict[str, Any]) -> None:
        try:
            await message.ack_sync(timeout=ACK_TIMEOUT)
        except (nats.errors.Error, TimeoutError) as error:
            # Handled all the same; the broker may deliver it again, which costs a duplicate
            # delivery (absorbed by the subscriber) and a deduplicated reply.
            log.warning("acknowledgement not confirmed: %r", error, extra=context)
