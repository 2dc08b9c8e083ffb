"""The dispatcher: one worker per Ready Trigger, started, restarted and stopped as the Trigger
objects change. It reads Triggers and binds to their consumers; it never creates or deletes a
consumer (the operator does)."""

from __future__ import annotations

import asyncio
import logging

from checkout_core.triggers import InvalidTrigger, Trigger
from checkout_dispatcher import lifecycle
from checkout_dispatcher.lifecycle import Action, Change, Changed, Deleted, Listed
from checkout_dispatcher.logs import LOGGER
from checkout_dispatcher.resources import Resources
from checkout_dispatcher.worker import Worker

log = logging.getLogger(LOGGER)


class Dispatcher:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.metrics = resources.metrics
        self.workers: dict[str, Worker] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def apply(self, change: Change) -> None:
        """Bring the workers in line with one change seen through the Kubernetes API."""
        match change:
            case Listed():
                for key in lifecycle.gone(list(self.workers), change):
                    self._converge(key, None)
                for body in change.bodies:
                    self._converge(lifecycle.key(body), self._wanted(body))
            case Changed(body=body):
                self._converge(lifecycle.key(body), self._wanted(body))
            case Deleted(body=body):
                self._converge(lifecycle.key(body), None)

    def _wanted(self, body: lifecycle.Body) -> Trigger | None:
        try:
            return lifecycle.wanted(body)
        except InvalidTrigger as error:
            log.info("not serving Trigger: %s", error, extra={"trigger": lifecycle.key(body)})
            return None

    def _converge(self, key: str, desired: Trigger | None) -> None:
        running = self.workers.get(key)
        action = lifecycle.plan(running.trigger if running else None, desired)
        if action is Action.KEEP:
            return
        if running is not None:
            # The old worker drains in the background while the new one starts: both may pull
            # from the consumer for a moment, as two replicas would.
            del self.workers[key]
            task = asyncio.create_task(running.stop(), name=f"stopping {key}")
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        if desired is not None:
            worker = Worker(desired, self.resources)
            self.workers[key] = worker
            worker.start()
        self.metrics.workers.set(len(self.workers))
        log.info(
            "Trigger %s: %s",
            key,
            action.value,
            extra={"trigger": key, "generation": desired.generation if desired else None},
        )

    async def close(self) -> None:
        """Stop every worker; returns when all have drained."""
        for key in list(self.workers):
            self._converge(key, None)
        if self._stopping:
            await asyncio.wait(self._stopping)
