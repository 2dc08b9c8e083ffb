"""What the operator sets up once at start-up and every piece of its work shares: settings, the
HTTP session to the functions, the API client and its wrappers, the broker link."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes import client

from checkout_core import delivery
from checkout_operator.broker_link import BrokerLink
from checkout_operator.cluster import Checkouts, Events, Triggers
from checkout_operator.readiness import Readiness
from checkout_operator.reporting import Announce
from checkout_operator.settings import Settings
from checkout_operator.stalls import Stalls


@dataclass
class Context:
    settings: Settings
    session: aiohttp.ClientSession
    api: client.ApiClient
    broker: BrokerLink
    checkouts: Checkouts
    events: Events
    triggers: Triggers
    stalls: Stalls
    readiness: Readiness
    """The operator's Triggers that are Ready, as its Trigger handlers last saw them."""

    @classmethod
    def create(cls, settings: Settings, api: client.ApiClient) -> Context:
        return cls(
            settings=settings,
            session=delivery.session(),
            api=api,
            broker=BrokerLink(settings.nats_url),
            checkouts=Checkouts(api),
            events=Events(api),
            triggers=Triggers(api),
            stalls=Stalls(settings.republish_after),
            readiness=Readiness(),
        )

    def announcer(self, body: Mapping[str, Any]) -> Announce:
        """Posts Kubernetes Events on `body`."""
        return functools.partial(self.events.post, body)

    async def close(self) -> None:
        await self.events.drain()
        await self.broker.close()
        await self.session.close()
        self.api.close()
