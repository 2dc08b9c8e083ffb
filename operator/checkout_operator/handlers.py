"""Kopf wiring, and nothing else: which cluster events reach which function of the operator."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import kopf

from checkout_core.api import CHECKOUTS, GROUP, TRIGGERS, VERSION
from checkout_operator import choreography, cluster, expiries, repairs
from checkout_operator.context import Context
from checkout_operator.errors import NotYet
from checkout_operator.intake import UNFINISHED
from checkout_operator.workers import Workers

PREFIX = f"checkout.{GROUP}"
WATCHER = "watch-checkouts"
"""The id of the handler that sees every Checkout event."""
RETRY_DELAY = 1.0
CHECKOUT = (GROUP, VERSION, CHECKOUTS)
TRIGGER = (GROUP, VERSION, TRIGGERS)
T = TypeVar("T")
log = logging.getLogger(__name__)


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
    # Listings a page at a time, and of Checkouts only those not finished: the operator's memory
    # does not grow with the finished ones kept (retention lists those itself).
    settings.watching.chunk_size = cluster.PAGE
    context = Context.create(memo.settings, cluster.api_client())
    namespaces: list[str] = memo.namespaces
    try:
        selectable = await context.checkouts.selectable(next(iter(namespaces), None), UNFINISHED)
    except BaseException:
        await context.close()  # Kopf runs this handler again, with a context of its own
        raise
    if selectable:
        settings.watching.field_selectors[GROUP, CHECKOUTS] = UNFINISHED
    else:
        log.warning(
            "the Checkout CRD does not make status.phase selectable (it predates this operator: "
            "apply manifests/crds); watching every Checkout, finished ones too"
        )
    memo.context = context
    memo.workers = Workers(context)
    expiring = expiries.run(context.retention, context.checkouts, namespaces, selectable=selectable)
    memo.tasks = [asyncio.create_task(expiring, name="expiries")]
    if context.broker.configured:
        projector = context.projector.run_forever(choreography.triggers_once(context))
        memo.tasks += [
            asyncio.create_task(projector, name="projector"),
            asyncio.create_task(repairs.run(context), name="repairs"),
        ]


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.tasks:
        task.cancel()
    await asyncio.gather(*memo.tasks, return_exceptions=True)
    await memo.workers.close()
    await memo.context.close()


@kopf.on.event(*CHECKOUT, id=WATCHER)
async def watched(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every Checkout as the watch sees it: work started where it is needed (see intake), and
    what watches Checkouts in memory kept up to date (stalls, the projector, retention). No Kopf
    state is kept on Checkouts, so a checkout
    costs no API write for Kopf's bookkeeping."""
    raw, context = dict(body), memo.context
    context.stalls.watched(type, raw)
    context.projector.watched(type, raw)
    context.retention.watched(type, raw, datetime.datetime.now(datetime.UTC))
    memo.workers.seen(type, raw)


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
