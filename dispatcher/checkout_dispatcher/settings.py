"""The dispatcher's configuration: read from the environment once, at start-up, into a typed
object. Nothing else reads os.environ."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkout_core.environment import Environment, SettingsError

__all__ = ["Settings", "SettingsError"]


@dataclass(frozen=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4222"
    """The broker (NATS with JetStream). NATS_URL."""
    namespaces: tuple[str, ...] = ()
    """Namespaces whose Triggers are served; empty for all namespaces.
    DISPATCHER_NAMESPACES="shop,staging"."""
    concurrency: int = 16
    """Events of one Trigger delivered at the same time, per replica. DISPATCHER_CONCURRENCY."""
    fetch_batch: int = 16
    """Most events one pull from the broker asks for (never more than free delivery slots, so
    no event waits unattended in this process). DISPATCHER_FETCH_BATCH."""
    fetch_wait: float = 2.0
    """Seconds one pull waits for events before it is renewed; also how quickly a stopped worker
    notices. DISPATCHER_FETCH_WAIT."""
    drain_timeout: float = 10.0
    """Seconds a stopping worker lets deliveries in flight finish; the rest go back to the
    broker at once. DISPATCHER_DRAIN_TIMEOUT."""
    watch_timeout: int = 300
    """Seconds the API server keeps one watch of Triggers open before it is renewed from the
    last version seen. DISPATCHER_WATCH_TIMEOUT."""
    host: str = "0.0.0.0"  # noqa: S104 - in a pod, probes and scrapes come from outside
    """Address of the health and metrics endpoint. DISPATCHER_HOST."""
    port: int = 8080
    """Port of GET /healthz, /readyz and /metrics. DISPATCHER_PORT."""
    kubeconfig: str = ""
    """A kubeconfig file; empty inside a pod (the service account is used). KUBECONFIG."""
    name: str = field(default_factory=socket.gethostname)
    """This replica's name in the broker's connection list and in logs (the pod name).
    DISPATCHER_NAME, else the host name."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR. DISPATCHER_LOG_LEVEL."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(os.environ if environ is None else environ)
        defaults = cls()
        nats_url = env.text("NATS_URL", defaults.nats_url)
        if not nats_url.startswith(("nats://", "tls://")):
            raise SettingsError(f"NATS_URL={nats_url!r} is not a nats:// or tls:// URL")
        return cls(
            nats_url=nats_url,
            namespaces=env.items("DISPATCHER_NAMESPACES"),
            concurrency=env.integer("DISPATCHER_CONCURRENCY", defaults.concurrency, minimum=1),
            fetch_batch=env.integer("DISPATCHER_FETCH_BATCH", defaults.fetch_batch, minimum=1),
            fetch_wait=env.number("DISPATCHER_FETCH_WAIT", defaults.fetch_wait, minimum=0.1),
            drain_timeout=env.number("DISPATCHER_DRAIN_TIMEOUT", defaults.drain_timeout, minimum=0),
            watch_timeout=env.integer(
                "DISPATCHER_WATCH_TIMEOUT", defaults.watch_timeout, minimum=1
            ),
            host=env.text("DISPATCHER_HOST", defaults.host),
            port=env.port("DISPATCHER_PORT", defaults.port),
            kubeconfig=env.raw("KUBECONFIG"),
            name=env.text("DISPATCHER_NAME", defaults.name),
            log_level=env.log_level("DISPATCHER_LOG_LEVEL", defaults.log_level),
        )
