"""The dispatcher's configuration: read from the environment once, at start-up, into a typed
object. Nothing else reads os.environ."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(ValueError):
    """An environment variable has a value we cannot use; the message names it."""


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
        env = os.environ if environ is None else environ
        defaults = cls()
        level = env.get("DISPATCHER_LOG_LEVEL", defaults.log_level).upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(
                f"DISPATCHER_LOG_LEVEL={level!r} is not DEBUG, INFO, WARNING or ERROR"
            )
        nats_url = env.get("NATS_URL") or defaults.nats_url
        if not nats_url.startswith(("nats://", "tls://")):
            raise SettingsError(f"NATS_URL={nats_url!r} is not a nats:// or tls:// URL")
        return cls(
            nats_url=nats_url,
            namespaces=tuple(
                ns
                for ns in (p.strip() for p in env.get("DISPATCHER_NAMESPACES", "").split(","))
                if ns
            ),
            concurrency=_integer(env, "DISPATCHER_CONCURRENCY", defaults.concurrency, 1),
            fetch_batch=_integer(env, "DISPATCHER_FETCH_BATCH", defaults.fetch_batch, 1),
            fetch_wait=_number(env, "DISPATCHER_FETCH_WAIT", defaults.fetch_wait, 0.1),
            drain_timeout=_number(env, "DISPATCHER_DRAIN_TIMEOUT", defaults.drain_timeout, 0),
            watch_timeout=_integer(env, "DISPATCHER_WATCH_TIMEOUT", defaults.watch_timeout, 1),
            host=env.get("DISPATCHER_HOST") or defaults.host,
            port=_integer(env, "DISPATCHER_PORT", defaults.port, 1, maximum=65535),
            kubeconfig=env.get("KUBECONFIG", ""),
            name=env.get("DISPATCHER_NAME") or defaults.name,
            log_level=level,
        )


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    minimum: float,
    maximum: float | None = None,
) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={raw!r} must be at most {maximum:g}")
    return value


def _integer(
    env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    value = float(_number(env, name, default, minimum, maximum))
    if not value.is_integer():
        raise SettingsError(f"{name}={env[name]!r} is not a whole number")
    return int(value)
