"""A Checkout object as the operator reads it: who it is, its order, how to carry it out, and the
`order.placed` event that starts it. Pure: works on the object's body as a dict."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from checkout_core import events
from checkout_core.api import Mode
from checkout_core.order import Order
from checkout_operator.orchestration import Strategy


@dataclass(frozen=True)
class Checkout:
    namespace: str
    name: str
    uid: str
    generation: int
    mode: Mode
    strategy: Strategy
    order: Order
    status: Mapping[str, Any]

    @property
    def key(self) -> str:
        """`namespace/name`, the `checkout` attribute of every event of this checkout."""
        return f"{self.namespace}/{self.name}"

    @property
    def traceparent(self) -> str:
        """W3C trace context for the whole checkout: the trace id is the object's uid, so every
        event, log line and span of one checkout shares it, across restarts too."""
        trace_id = self.uid.replace("-", "").lower().ljust(32, "0")[:32]
        span_id = hashlib.sha256(self.uid.encode()).hexdigest()[:16]
        return f"00-{trace_id}-{span_id}-01"

    def placed_event(self) -> CloudEvent:
        """`order.placed`, with an id that is the same for every attempt at this checkout."""
        return events.order_placed(
            self.order.to_json(),
            self.key,
            event_id=f"{self.key}/{self.uid}",
            rewards_member=self.order.customer.rewards_member,
            traceparent=self.traceparent,
        )

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Checkout:
        """Raises InvalidOrder when spec.order does not follow the contract."""
        meta, spec = body["metadata"], body.get("spec") or {}
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            generation=meta.get("generation", 1),
            mode=Mode(spec.get("mode", Mode.ORCHESTRATION)),
            strategy=Strategy(spec.get("strategy", Strategy.PARALLEL)),
            order=Order.from_json(spec.get("order")),
            status=body.get("status") or {},
        )
