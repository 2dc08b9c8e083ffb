"""The operator's work on Checkouts: one task per Checkout that needs it (see intake, which
decides), started from the watch and never two at once for one Checkout. A task that cannot go on
yet, or fails, is tried again shortly with the Checkout read afresh; a deleted Checkout's task
ends at its next status write, which finds it gone."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from checkout_operator import choreography, orchestrator, refusals
from checkout_operator.context import Context
from checkout_operator.errors import NotYet
from checkout_operator.intake import LISTED, Action, decide

Job = Callable[[Mapping[str, Any], Context], Awaitable[None]]
RETRY_DELAY = 1.0
"""Seconds before work that could not be done is tried again."""
REMEMBERED = 4096
"""Checkouts whose work is done, remembered (the latest) so that an older copy the watch still
delivers starts nothing; a Checkout leaves the watch seconds after its work is done."""
log = logging.getLogger(__name__)


async def orchestrate(body: Mapping[str, Any], context: Context) -> None:
    """An Orchestration checkout: carry it out."""
    if checkout := await refusals.admit(body, context):
        await orchestrator.orchestrate(checkout, body, context)


async def choreograph(body: Mapping[str, Any], context: Context) -> None:
    """A Choreography checkout: start it."""
    if checkout := await refusals.admit(body, context):
        await choreography.choreograph(checkout, body, context)


JOBS: dict[Action, Job] = {Action.ORCHESTRATE: orchestrate, Action.CHOREOGRAPH: choreograph}


class Workers:
    def __init__(self, context: Context, retry_delay: float = RETRY_DELAY) -> None:
        self._context = context
        self._retry_delay = retry_delay
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._concluded: OrderedDict[str, None] = OrderedDict()
        """Checkouts (by uid) whose work this operator has done, the latest REMEMBERED."""

    def seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event about a Checkout."""
        uid = body["metadata"]["uid"]
        action = decide(event_type, body, busy=uid in self._tasks, concluded=uid in self._concluded)
        if action is Action.FORGET:
            self._concluded.pop(uid, None)
        elif action in JOBS:
            task = asyncio.create_task(self._work(uid, action, body), name=f"checkout {uid}")
            self._tasks[uid] = task

    def __len__(self) -> int:
        """Checkouts being worked on."""
        return len(self._tasks)

    async def _work(self, uid: str, action: Action, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        where = f"{meta['namespace']}/{meta['name']}"
        try:
            while True:
                try:
                    async with self._context.turns:
                        await JOBS[action](body, self._context)
                    self._conclude(uid)
                    return
                except NotYet as error:
                    log.info("%s: %s", where, error)
                except ApiException as error:
                    if error.status == 404:
                        log.info("%s: deleted while being worked on", where)
                        return
                    log.exception("%s: work failed; trying again", where)
                except Exception:
                    log.exception("%s: work failed; trying again", where)
                await asyncio.sleep(self._retry_delay)
                again = await self._reread(meta["namespace"], meta["name"], uid)
                if again is None:
                    return
                body, action = again
        finally:
            if self._tasks.get(uid) is asyncio.current_task():
                del self._tasks[uid]

    def _conclude(self, uid: str) -> None:
        self._concluded[uid] = None
        while len(self._concluded) > REMEMBERED:
            self._concluded.popitem(last=False)

    async def _reread(
        self, namespace: str, name: str, uid: str
    ) -> tuple[Mapping[str, Any], Action] | None:
        """The Checkout as it is now and what it needs, or None when it needs nothing (any more)."""
        while True:
            try:
                body = await self._context.checkouts.get(namespace, name)
                break
            except (ApiException, OSError) as error:
                log.warning("%s/%s: cannot read it (%s); trying again", namespace, name, error)
                await asyncio.sleep(self._retry_delay)
        if body is None or body["metadata"].get("uid") != uid:
            return None
        action = decide(LISTED, body, busy=False, concluded=False)
        return (body, action) if action in JOBS else None

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
