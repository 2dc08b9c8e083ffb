"""Kopf wiring, and nothing else: which cluster events reach which function of the operator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import kopf

from checkout_core.api import CHECKOUTS, CHOREOGRAPHY, GROUP, ORCHESTRATION, TRIGGERS, VERSION
from checkout_operator import choreography, cluster, orchestrator, refusals, repairs
from checkout_operator.context import Context
from checkout_operator.errors import NotYet
from checkout_operator.projector import Projector

PREFIX = f"checkout.{GROUP}"
WATCHER = "watch-for-stalls"
"""The id of the handler that sees every Checkout event (see stalls)."""
RETRY_DELAY = 1.0
CHECKOUT = (GROUP, VERSION, CHECKOUTS)
TRIGGER = (GROUP, VERSION, TRIGGERS)
T = TypeVar("T")


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Kopf's bookkeeping under our own names, and the operator's context and loops."""
    # Our own names, so it never collides with another Kopf operator's; annotations rather
    # than status, so status holds only what the contract says.
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
    # Step changes are posted as Events explicitly; Kopf's own chatter would cost API writes.
    settings.posting.level = logging.WARNING
    # A watch that silently stalls is re-established rather than trusted forever.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # The resources and namespaces are fixed at start-up: no scanning of CRDs or namespaces at
    # run time, so no permission to list them cluster-wide.
    settings.scanning.disabled = True
    context = Context.create(memo.settings, cluster.api_client())
    memo.context = context
    memo.tasks = []
    if context.broker.configured:
        projector = Projector(context.broker, context.checkouts, context.events)
        memo.tasks = [
            asyncio.create_task(
                projector.run_forever(choreography.triggers_once(context)), name="projector"
            ),
            asyncio.create_task(repairs.run(context), name="repairs"),
        ]


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.tasks:
        task.cancel()
    await asyncio.gather(*memo.tasks, return_exceptions=True)
    await memo.context.close()


def _mode(mode: str) -> Callable[..., bool]:
    def when(spec: kopf.Spec, **_: Any) -> bool:
        return bool(spec.get("mode", ORCHESTRATION) == mode)

    return when


@kopf.on.resume(*CHECKOUT, when=_mode(ORCHESTRATION), id="resume-orchestration")
@kopf.on.create(*CHECKOUT, when=_mode(ORCHESTRATION), id="orchestrate")
async def orchestrate(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """An Orchestration checkout: carry it out."""
    if checkout := await refusals.admit(body, memo.context):
        await orchestrator.orchestrate(checkout, body, memo.context)


@kopf.on.event(*CHECKOUT, id=WATCHER)
def watched(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every Checkout as the watch sees it, for spotting stalled Choreography checkouts."""
    memo.context.stalls.watched(type, body)


@kopf.on.resume(*CHECKOUT, when=_mode(CHOREOGRAPHY), id="resume-choreography")
@kopf.on.create(*CHECKOUT, when=_mode(CHOREOGRAPHY), id="choreograph")
async def choreograph(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A Choreography checkout: start it."""
    if checkout := await refusals.admit(body, memo.context):
        await _soon(choreography.choreograph(checkout, body, memo.context))


def _home(namespace: str | None, memo: kopf.Memo, **_: Any) -> bool:
    """Triggers are kept in the operator's own namespace only (where the dispatcher serves
    them); Kopf watches every namespace it is given, so the others are passed over here."""
    return bool(namespace == memo.context.settings.namespace)


@kopf.on.resume(*TRIGGER, id="resume-trigger", when=_home)
@kopf.on.update(*TRIGGER, id="update-trigger", when=_home)
@kopf.on.create(*TRIGGER, id="create-trigger", when=_home)
async def trigger(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """A Trigger: its consumer made to match, its status written."""
    patch["status"] = await _soon(choreography.reconcile_trigger(body, memo.context))


@kopf.on.delete(*TRIGGER, id="delete-trigger", when=_home)
async def trigger_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A deleted Trigger: its consumer goes with it."""
    await _soon(choreography.remove_trigger(body, memo.context))


async def _soon(work: Awaitable[T]) -> T:
    """Await `work`; what cannot be done yet is retried by Kopf shortly."""
    try:
        return await work
    except NotYet as error:
        raise kopf.TemporaryError(str(error), delay=RETRY_DELAY) from error
