"""Checkouts that cannot be carried out at all: an order that breaks the contract reached the
operator (an older CRD let it in, or a rule the API server cannot check). It is not left without
a status: the Checkout is marked Failed, reason InvalidOrder, once."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from checkout_core.order import InvalidOrder
from checkout_core.steps import STEPS
from checkout_operator import reporting
from checkout_operator import status as model
from checkout_operator.checkouts import Checkout
from checkout_operator.context import Context

INVALID_ORDER = "InvalidOrder"


async def admit(body: Mapping[str, Any], context: Context) -> Checkout | None:
    """The Checkout, when it can be carried out; else None, its refusal recorded."""
    try:
        return Checkout.from_body(body)
    except InvalidOrder as error:
        refusal = model.Refusal(INVALID_ORDER, f"spec.{error}")
    recorded = model.from_json(body.get("status"))
    if recorded is not None and recorded.refusal == refusal:
        return None  # said already
    meta = body["metadata"]
    now = datetime.datetime.now(datetime.UTC)
    generation = meta.get("generation", 1)
    announce = context.announcer(body)
    status = reporting.refuse(STEPS, refusal, generation, now, announce)
    await context.checkouts.write_status(meta["namespace"], meta["name"], status)
    return None
