"""`checkout-dispatcher`: deliver the broker's events to the subscribers of the Ready Triggers,
publish their replies, dead-letter what cannot be delivered. Configured by environment variables
(see checkout_dispatcher.settings); run as many replicas as the load needs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from checkout_core import broker, delivery
from checkout_dispatcher import logs, server
from checkout_dispatcher.attempts import Attempts
from checkout_dispatcher.dispatcher import Dispatcher
from checkout_dispatcher.lifecycle import Change
from checkout_dispatcher.logs import LOGGER
from checkout_dispatcher.metrics import Metrics
from checkout_dispatcher.resources import Resources
from checkout_dispatcher.settings import Settings, SettingsError
from checkout_dispatcher.watch import TriggerWatch, configuration

log = logging.getLogger(LOGGER)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="checkout-dispatcher", description=__doc__).parse_args(argv)
    try:
        settings = Settings.from_environment()
    except SettingsError as error:
        print(f"checkout-dispatcher: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    asyncio.run(run(settings))
    return 0


async def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop taking events and drain."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = Metrics()
    changes: asyncio.Queue[Change] = asyncio.Queue()

    def emit(change: Change) -> None:
        """Called from the watch threads."""
        with contextlib.suppress(RuntimeError):  # the loop is closing: nothing left to tell
            loop.call_soon_threadsafe(changes.put_nowait, change)

    cluster = configuration(settings.kubeconfig)
    watches = [
        TriggerWatch(cluster, ns, emit, settings.watch_timeout)
        for ns in settings.namespaces or (None,)
    ]
    connection: Client | None = None
    dispatcher: Dispatcher | None = None
    health = server.Health(
        broker=lambda: connection is not None and connection.is_connected,
        listed=lambda: all(w.listed.is_set() for w in watches),
        workers=lambda: len(dispatcher.workers) if dispatcher else 0,
    )
    endpoint = await server.start(settings, metrics, health)
    log.info(
        "dispatcher starting",
        extra={"namespaces": list(settings.namespaces) or "*", "port": settings.port},
    )
    try:
        connection = await _connect(settings, stop)
        if connection is None:
            return
        js = connection.jetstream()
        attempts = await _attempts(js, stop)
        if attempts is None:
            return
        async with delivery.session() as http:
            dispatcher = Dispatcher(Resources(js, http, settings, metrics, attempts))
            for w in watches:
                w.start()
            consumer = asyncio.create_task(_consume(changes, dispatcher))
            await stop.wait()
            log.info("stopping: draining deliveries in flight")
            for w in watches:
                w.stop()
            consumer.cancel()
            await dispatcher.close()
    finally:
        await endpoint.cleanup()
        if connection is not None:
            await connection.close()
    log.info("dispatcher stopped")


async def _consume(changes: asyncio.Queue[Change], dispatcher: Dispatcher) -> None:
    while True:
        dispatcher.apply(await changes.get())


async def _connect(settings: Settings, stop: asyncio.Event) -> Client | None:
    """Connect to the broker, trying until it answers (it may start after us); None if told to
    stop first."""
    while not stop.is_set():
        try:
            return await broker.connect(settings.nats_url, f"checkout-dispatcher {settings.name}")
        except (nats.errors.Error, OSError) as error:
            log.warning("broker %s unreachable: %r", settings.nats_url, error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return None


async def _attempts(js: JetStreamContext, stop: asyncio.Event) -> Attempts | None:
    """The delivery counts' bucket, trying until the broker's JetStream answers; None if told
    to stop first."""
    while not stop.is_set():
        try:
            return await Attempts.open(js)
        except (nats.errors.Error, TimeoutError) as error:
            log.warning("delivery counts unavailable: %r", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return None


if __name__ == "__main__":
    sys.exit(main())
