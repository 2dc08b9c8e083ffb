"""The broker: NATS JetStream. One durable stream holds every shop event under a subject named by
its type; another holds dead letters. Publishing waits for JetStream's acknowledgement and sets the
CloudEvent id as the message id, so a retried publish is stored once."""

from __future__ import annotations

import nats
from cloudevents.core.base import BaseCloudEvent
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from checkout_core import binding
from checkout_core.subjects import (
    ALL,
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    DUPLICATE_WINDOW,
    MSG_ID,
    PREFIX,
    STREAM,
    consumer_name,
    dead_letter_subject,
    subject,
)

__all__ = [
    "ALL",
    "DEAD_LETTER_PREFIX",
    "DEAD_LETTER_STREAM",
    "DUPLICATE_WINDOW",
    "MSG_ID",
    "PREFIX",
    "STREAM",
    "connect",
    "consumer_config",
    "consumer_name",
    "dead_letter_subject",
    "delete_consumer",
    "ensure_consumer",
    "ensure_streams",
    "publish",
    "subject",
]


async def connect(url: str, name: str) -> Client:
    """A connection that keeps reconnecting, for as long as the process lives."""
    return await nats.connect(
        servers=[url], name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )


async def ensure_streams(js: JetStreamContext) -> None:
    """Create the streams, or bring their configuration up to date; streams as we want them cost
    two lookups and no change. File storage: events survive a broker restart."""
    for config in (
        api.StreamConfig(
            name=STREAM,
            subjects=[ALL],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            duplicate_window=DUPLICATE_WINDOW,
        ),
        api.StreamConfig(
            name=DEAD_LETTER_STREAM,
            subjects=[f"{DEAD_LETTER_PREFIX}.>"],
            storage=api.StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW,
        ),
    ):
        try:
            current = (await js.stream_info(config.name or "")).config
        except NotFoundError:
            await js.add_stream(config)
            continue
        if any(
            getattr(config, name) is not None and getattr(current, name) != getattr(config, name)
            for name in ("subjects", "storage", "retention", "duplicate_window")
        ):
            await js.update_stream(config)


async def publish(
    js: JetStreamContext,
    event: BaseCloudEvent,
    to: str | None = None,
    msg_id: str | None = None,
) -> api.PubAck:
    """Publish in binary mode and wait for the stream's acknowledgement. `to` overrides the
    subject and `msg_id` the deduplication id (the event id): dead letters of one event from two
    triggers are two messages. Raises when the broker does not acknowledge."""
    headers, payload = binding.to_nats(event)
    headers[MSG_ID] = msg_id or event.get_id()
    return await js.publish(to or subject(event.get_type()), payload, headers=headers)


def consumer_config(
    name: str, filter_subject: str, ack_wait: float, deliver_all: bool = False
) -> api.ConsumerConfig:
    """A durable pull consumer with explicit acks and no redelivery limit: whoever pulls decides
    when to give up (a Trigger's retry budget), so the broker never drops an event by itself.
    A Trigger's consumer starts with the events published after it (as a Knative Trigger that
    becomes Ready); the status projector's starts from the beginning of the stream."""
    return api.ConsumerConfig(
        durable_name=name,
        filter_subject=filter_subject,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=1000,
        deliver_policy=api.DeliverPolicy.ALL if deliver_all else api.DeliverPolicy.NEW,
    )


async def ensure_consumer(js: JetStreamContext, config: api.ConsumerConfig) -> api.ConsumerInfo:
    """Create the consumer, or update it in place; a changed filter (which the broker cannot
    update) replaces it."""
    name = config.durable_name or ""
    try:
        current: api.ConsumerInfo = await js.consumer_info(STREAM, name)
    except NotFoundError:
        return await js.add_consumer(STREAM, config)
    if current.config.filter_subject != config.filter_subject:
        await js.delete_consumer(STREAM, name)
        return await js.add_consumer(STREAM, config)
    if (current.config.ack_wait, current.config.max_ack_pending) != (
        config.ack_wait,
        config.max_ack_pending,
    ):
        return await js.add_consumer(STREAM, config)  # same durable name: an update
    return current


async def delete_consumer(js: JetStreamContext, name: str) -> bool:
    """Remove a consumer; False when there was none."""
    try:
        return await js.delete_consumer(STREAM, name)
    except NotFoundError:
        return False
