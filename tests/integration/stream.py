"""Reading the broker in tests, each read on a connection of its own: a Trigger's consumer, the
dead letters of a subject, how many events the shop's stream holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cloudevents.core.base import BaseCloudEvent
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from checkout_core import binding, broker

T = TypeVar("T")


def _read(url: str, read: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    async def run() -> T:
        connection = await broker.connect(url, "test")
        try:
            return await read(connection.jetstream())
        finally:
            await connection.close()

    return asyncio.run(run())


def consumer(url: str, name: str) -> api.ConsumerInfo | None:
    """The consumer `name` of the shop's stream, or None when there is none."""

    async def read(js: JetStreamContext) -> api.ConsumerInfo | None:
        try:
            info: api.ConsumerInfo = await js.consumer_info(broker.STREAM, name)
        except NotFoundError:
            return None
        return info

    return _read(url, read)


def dead_letters(url: str, subject: str) -> list[BaseCloudEvent]:
    """The events the dead-letter stream holds on `subject`, oldest first."""

    async def read(js: JetStreamContext) -> list[BaseCloudEvent]:
        info = await js.stream_info(broker.DEAD_LETTER_STREAM)
        found = []
        for sequence in range(1, info.state.last_seq + 1):
            message = await js.get_msg(broker.DEAD_LETTER_STREAM, sequence)
            if message.subject == subject:
                found.append(binding.from_nats(message.headers, message.data or b""))
        return found

    return _read(url, read)


def stored(url: str) -> int:
    """How many events the shop's stream holds."""

    async def read(js: JetStreamContext) -> int:
        return int((await js.stream_info(broker.STREAM)).state.messages)

    return _read(url, read)
