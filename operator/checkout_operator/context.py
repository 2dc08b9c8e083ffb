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
from checkout_operator.projector import Projector
from checkout_operator.readiness import Readiness
from checkout_operator.reporting import Announce
from checkout_operator.retention import Schedule
from checkout_operator.settings import Settings
from checkout_operator.stalls import Stalls
from checkout_operator.turns import Turns


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
    projector: Projector
    """Choreography's statuses, from the broker's events (running only with a broker)."""
    retention: Schedule
    """Finished Checkouts, and when each is to be deleted."""
    turns: Turns
    """Checkouts worked on at once."""

    @classmethod
    def create(cls, settings: Settings, api: client.ApiClient) -> Context:
        link, checkouts, events = BrokerLink(settings.nats_url), Checkouts(api), Events(api)
        return cls(
            settings=settings,
            session=delivery.session(),
            api=api,
            broker=link,
            checkouts=checkouts,
            events=events,
            triggers=Triggers(api),
            stalls=Stalls(settings.republish_after),
            readiness=Readiness(),
            projector=Projector(
                link, checkouts, events, settings.status_batch_window, settings.status_interval
            ),
            retention=Schedule(settings.ttl_seconds_after_finished),
            turns=Turns(settings.concurrency),
        )

    def announcer(self, body: Mapping[str, Any]) -> Announce:
        """Posts Kubernetes Events on `body`."""
        return functools.partial(self.events.post, body)

    async def close(self) -> None:
        await self.events.drain()
        await self.broker.close()
        await self.session.close()
        self.api.close()
