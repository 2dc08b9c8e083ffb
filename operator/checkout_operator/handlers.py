"""Kopf wiring, and nothing else: which cluster events reach which function of the operator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import kopf
import nats.errors
from kubernetes.client.exceptions import ApiException

from checkout_core import broker
from checkout_core.api import CHECKOUTS as PLURAL
from checkout_core.api import CHOREOGRAPHY, GROUP, ORCHESTRATION, TRIGGERS, VERSION
from checkout_core.order import InvalidOrder
from checkout_operator import cluster, reconcile
from checkout_operator.broker_link import BrokerUnavailable
from checkout_operator.checkouts import Checkout
from checkout_operator.projector import Projector
from checkout_operator.settings import Settings

PREFIX = "checkout.shop.example.com"
WATCHER = "watch-for-stalls"
"""The id of the handler that sees every Checkout event (see stalls)."""
RETRY_DELAY = 1.0
log = logging.getLogger(__name__)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own names for Kopf's bookkeeping, so it never collides with another Kopf operator's;
    # annotations rather than status, so status holds only what the contract says.
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
    context = reconcile.Context.create(Settings.from_environment(), cluster.api_client())
    memo.context = context
    memo.tasks = [
        asyncio.create_task(_choreography(context), name="choreography"),
        asyncio.create_task(_resync(context), name="resync"),
    ]


async def _choreography(context: reconcile.Context) -> None:
    """Connect to the broker, lay out the catalogue's Triggers, and project events forever. It
    must outlive every failure but cancellation: the status of every Choreography checkout
    depends on it, so whatever stops it is logged and it starts again."""
    if not context.broker.configured:
        return
    await context.broker.connect()
    projector = Projector(context.broker, context.checkouts, context.events, reconcile.describe)
    triggers_laid = not context.settings.manage_triggers
    while True:
        try:
            # The streams again, each time: a broker that came back with an empty store has none.
            await broker.ensure_streams(context.broker.js)
            if not triggers_laid:
                await reconcile.ensure_triggers(context)
                triggers_laid = True
            await projector.run()
        except (BrokerUnavailable, nats.errors.Error) as error:  # the broker is (re)starting
            log.warning("projector paused: %s: %s", type(error).__name__, error)
        except Exception:
            log.exception("projector stopped; starting it again")
        await asyncio.sleep(RETRY_DELAY)


async def _resync(context: reconcile.Context) -> None:
    """Repairs, every resync interval, for what no event announces: Trigger consumers the broker
    lost, and Choreography checkouts that stopped moving because it lost their events."""
    if not context.broker.configured:
        return
    while True:
        await asyncio.sleep(context.settings.resync_interval)
        try:
            corrected = await reconcile.resync_triggers(context)
            republished = await reconcile.republish_stalled(context)
            if corrected or republished:
                log.info(
                    "repaired: %d Trigger status(es) corrected, %d stalled checkout(s) republished",
                    corrected,
                    republished,
                )
        except (BrokerUnavailable, nats.errors.Error, ApiException) as error:
            log.warning("repairs paused: %s: %s", type(error).__name__, error)
        except Exception:
            log.exception("repairs failed; trying again next round")


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    context: reconcile.Context = memo.context
    for task in memo.tasks:
        task.cancel()
    await asyncio.gather(*memo.tasks, return_exceptions=True)
    await context.events.drain()
    await context.broker.close()
    await context.session.close()
    context.api.close()


def _checkout(body: kopf.Body) -> Checkout:
    try:
        return Checkout.from_body(body)
    except InvalidOrder as error:
        raise kopf.PermanentError(f"spec.{error}") from error


def _mode(mode: str) -> Callable[..., bool]:
    def when(spec: kopf.Spec, **_: Any) -> bool:
        return bool(spec.get("mode", ORCHESTRATION) == mode)

    return when


@kopf.on.resume(GROUP, VERSION, PLURAL, when=_mode(ORCHESTRATION), id="resume-orchestration")
@kopf.on.create(GROUP, VERSION, PLURAL, when=_mode(ORCHESTRATION), id="orchestrate")
async def orchestrate(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile.orchestrate(_checkout(body), body, memo.context)


@kopf.on.event(GROUP, VERSION, PLURAL, id=WATCHER)
def watched(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every Checkout as the watch sees it, for spotting stalled Choreography checkouts."""
    context: reconcile.Context = memo.context
    if type == "DELETED":
        context.stalls.forget(body.metadata.namespace or "", body.metadata.name or "")
    else:
        context.stalls.observe(body)


@kopf.on.resume(GROUP, VERSION, PLURAL, when=_mode(CHOREOGRAPHY), id="resume-choreography")
@kopf.on.create(GROUP, VERSION, PLURAL, when=_mode(CHOREOGRAPHY), id="choreograph")
async def choreograph(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        await reconcile.choreograph(_checkout(body), body, memo.context)
    except (BrokerUnavailable, reconcile.TriggersNotReady, nats.errors.Error) as error:
        raise kopf.TemporaryError(str(error), delay=RETRY_DELAY) from error


TRIGGER_RESOURCE = (GROUP, VERSION, TRIGGERS)


def _home(namespace: str | None, memo: kopf.Memo, **_: Any) -> bool:
    """Triggers are kept in the operator's own namespace only (where the dispatcher serves
    them); Kopf watches every namespace it is given, so the others are passed over here."""
    context: reconcile.Context = memo.context
    return namespace == context.settings.namespace


@kopf.on.resume(*TRIGGER_RESOURCE, id="resume-trigger", when=_home)
@kopf.on.update(*TRIGGER_RESOURCE, id="update-trigger", when=_home)
@kopf.on.create(*TRIGGER_RESOURCE, id="create-trigger", when=_home)
async def trigger(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    try:
        patch["status"] = await reconcile.reconcile_trigger(body, memo.context)
    except (BrokerUnavailable, nats.errors.Error) as error:
        raise kopf.TemporaryError(str(error), delay=RETRY_DELAY) from error


@kopf.on.delete(*TRIGGER_RESOURCE, id="delete-trigger", when=_home)
async def trigger_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        await reconcile.remove_trigger(body, memo.context)
    except (BrokerUnavailable, nats.errors.Error) as error:
        raise kopf.TemporaryError(str(error), delay=RETRY_DELAY) from error
