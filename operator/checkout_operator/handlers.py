"""Kopf wiring, and nothing else: which cluster events reach which function of the operator."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import kopf

from checkout_core.order import InvalidOrder
from checkout_operator import cluster, reconcile
from checkout_operator import status as model
from checkout_operator.checkouts import GROUP, ORCHESTRATION, PLURAL, VERSION, Checkout
from checkout_operator.settings import Settings

PREFIX = "checkout.shop.example.com"


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
    memo.context = reconcile.Context(
        settings=Settings.from_environment(),
        session=aiohttp.ClientSession(),
        api=cluster.api_client(),
    )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    context: reconcile.Context = memo.context
    await context.session.close()
    context.api.close()


def _orchestrated(spec: kopf.Spec, **_: Any) -> bool:
    return bool(spec.get("mode", ORCHESTRATION) == ORCHESTRATION)


@kopf.on.resume(GROUP, VERSION, PLURAL, when=_orchestrated, id="resume-orchestration")
@kopf.on.create(GROUP, VERSION, PLURAL, when=_orchestrated, id="orchestrate")
async def orchestrate(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        checkout = Checkout.from_body(body)
    except InvalidOrder as error:
        raise kopf.PermanentError(f"spec.{error}") from error

    def notify(update: model.StepUpdate, _status: model.Status) -> None:
        failed = update.change in (model.Change.FAILED, model.Change.RETRYING)
        kopf.event(
            body,
            type="Warning" if failed else "Normal",
            reason=str(update.change),
            message=reconcile.describe(update),
        )

    await reconcile.orchestrate(checkout, memo.context, notify)
