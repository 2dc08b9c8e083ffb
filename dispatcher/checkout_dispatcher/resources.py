"""What every worker of a dispatcher process shares: the broker, the HTTP client, the settings,
the metrics and the delivery counts. Made once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from nats.js import JetStreamContext

from checkout_dispatcher.attempts import Attempts
from checkout_dispatcher.metrics import Metrics
from checkout_dispatcher.settings import Settings


@dataclass(frozen=True)
class Resources:
    js: JetStreamContext
    """The broker."""
    http: aiohttp.ClientSession
    """The one HTTP client: pooled connections to every subscriber."""
    settings: Settings
    metrics: Metrics
    attempts: Attempts
    """Deliveries made to the subscribers, per event."""
