"""How many deliveries of an event its subscriber has had, for the retry budget and the
`deliveryattempt` a reply carries. The broker's own delivery count will not do: it also counts
every time a dispatcher handed an event back unattempted (a worker stopping, a replica draining,
a restart), and each of those would spend an attempt. So deliveries are counted here, in a
JetStream key-value bucket keyed by consumer and stream sequence, written only when an attempt
is to be followed by another: the first delivery of an event costs nothing."""

from __future__ import annotations

import contextlib

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

BUCKET = "checkout_delivery_attempts"
TTL = 24 * 3600.0
"""Seconds a count is kept: far longer than any Trigger's retries take, short enough that the
counts of events whose settlement was never recorded (a dispatcher killed) do not pile up."""


class Attempts:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> Attempts:
        """The bucket, made when it is not there yet (file storage: counts survive a broker
        restart, as the events they count do)."""
        try:
            return cls(await js.key_value(BUCKET))
        except BucketNotFoundError:
            config = api.KeyValueConfig(
                bucket=BUCKET, history=1, ttl=TTL, storage=api.StorageType.FILE
            )
            return cls(await js.create_key_value(config))

    @staticmethod
    def _key(consumer: str, message: Msg) -> str:
        return f"{consumer}.{message.metadata.sequence.stream}"

    async def made(self, consumer: str, message: Msg) -> int:
        """Deliveries of `message` to the subscriber so far (0 on its first delivery)."""
        if message.metadata.num_delivered <= 1:
            return 0
        try:
            entry = await self._kv.get(self._key(consumer, message))
        except KeyNotFoundError:
            return 0
        return int(entry.value or b"0")

    async def record(self, consumer: str, message: Msg, made: int) -> None:
        """`made` deliveries so far, before the event goes back to the broker for the next."""
        await self._kv.put(self._key(consumer, message), str(made).encode())

    async def forget(self, consumer: str, message: Msg) -> None:
        """The event is settled: its count goes (when it had one)."""
        if message.metadata.num_delivered <= 1:
            return
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self._kv.purge(self._key(consumer, message))
