"""The operator's connection to the broker. It connects in the background and keeps trying, so
the operator starts (and orchestrates) even while the broker is down; choreography waits for it.
It owns the broker's failures: whatever NATS raises comes out of here as BrokerUnavailable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import nats.errors
from cloudevents.core.base import BaseCloudEvent
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from checkout_core import broker
from checkout_operator.errors import NotYet

log = logging.getLogger(__name__)
FAILURES = (nats.errors.Error, OSError, TimeoutError)
"""What NATS may raise when the broker is away, restarting or slow."""


class BrokerUnavailable(NotYet):
    """Not connected to the broker (yet, or not configured), or it failed a request."""


@contextlib.contextmanager
def _owned(what: str) -> Iterator[None]:
    try:
        yield
    except FAILURES as error:
        raise BrokerUnavailable(f"{what}: {type(error).__name__}: {error}") from error


class BrokerLink:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Client | None = None
        self._js: JetStreamContext | None = None

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def js(self) -> JetStreamContext:
        if not self.url:
            raise BrokerUnavailable("no broker configured (CHECKOUT_NATS_URL is empty)")
        if self._js is None or self._client is None or not self._client.is_connected:
            raise BrokerUnavailable(f"not connected to the broker at {self.url}")
        return self._js

    def require(self) -> None:
        """Raise BrokerUnavailable unless connected right now."""
        self.js  # noqa: B018 - the property raises

    async def connect(self, retry_delay: float = 1.0) -> None:
        """Connect and make sure the streams exist; retry until it works."""
        while True:
            try:
                self._client = await broker.connect(self.url, name="checkout-operator")
                self._js = self._client.jetstream()
                await broker.ensure_streams(self._js)
            except FAILURES as error:
                log.warning(
                    "broker at %s not ready (%s: %s); retrying",
                    self.url,
                    type(error).__name__,
                    error,
                )
            else:
                log.info("connected to the broker at %s", self.url)
                return
            if self._client is not None:
                await self._client.close()
            await asyncio.sleep(retry_delay)

    async def ensure_streams(self) -> None:
        """The streams again: a broker that came back with an empty store has none."""
        with _owned("making the streams"):
            await broker.ensure_streams(self.js)

    async def ensure_consumer(self, config: api.ConsumerConfig) -> None:
        with _owned(f"making consumer {config.durable_name}"):
            await broker.ensure_consumer(self.js, config)

    async def delete_consumer(self, name: str) -> None:
        with _owned(f"deleting consumer {name}"):
            await broker.delete_consumer(self.js, name)

    async def publish(self, event: BaseCloudEvent, msg_id: str | None = None) -> None:
        with _owned(f"publishing {event.get_type()}"):
            await broker.publish(self.js, event, msg_id=msg_id)

    async def close(self) -> None:
        # close, not drain: every message is acknowledged explicitly once handled, so nothing in
        # flight is lost, and draining a pull subscription waits out its timeout.
        if self._client is not None and not self._client.is_closed:
            await self._client.close()
