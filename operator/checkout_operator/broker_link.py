"""The operator's connection to the broker. It connects in the background and keeps trying, so
the operator starts (and orchestrates) even while the broker is down; choreography waits for it."""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from checkout_core import broker

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """Not connected to the broker (yet, or not configured)."""


class BrokerLink:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()

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

    async def wait(self) -> JetStreamContext:
        await self._ready.wait()
        return self.js

    async def connect(self, retry_delay: float = 1.0) -> None:
        """Connect and make sure the streams exist; retry until it works."""
        while True:
            try:
                self._client = await broker.connect(self.url, name="checkout-operator")
                self._js = self._client.jetstream()
                await broker.ensure_streams(self._js)
            except (OSError, TimeoutError, nats.errors.Error) as error:
                log.warning(
                    "broker at %s not ready (%s: %s); retrying",
                    self.url,
                    type(error).__name__,
                    error,
                )
            else:
                self._ready.set()
                log.info("connected to the broker at %s", self.url)
                return
            if self._client is not None:
                await self._client.close()
            await asyncio.sleep(retry_delay)

    async def close(self) -> None:
        # close, not drain: every message is acknowledged explicitly once handled, so nothing in
        # flight is lost, and draining a pull subscription waits out its timeout.
        if self._client is not None and not self._client.is_closed:
            await self._client.close()
