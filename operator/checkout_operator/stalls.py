"""Choreography checkouts that stopped moving. Nobody drives a Choreography checkout, so an event
the broker lost — it crashed before its store had the event, or came back with an empty store —
would leave the checkout Running forever. The operator keeps the unfinished ones in sight, and
when one's status has not changed for a while it publishes its `order.placed` again: the functions
are idempotent by order id, so a step that did happen answers as before and one that did not
happens now. Pure: the operator feeds it what its watch sees and asks what is due."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checkout_core.api import CHOREOGRAPHY
from checkout_operator import status as model

Key = tuple[str, str]
"""(namespace, name)"""


def last_change(status: model.Status) -> datetime.datetime | None:
    """When anything in the status last changed: a step starting or ending, or the condition."""
    times = [t for s in status.steps for t in (s.started_at, s.completed_at) if t is not None]
    if status.condition is not None:
        times.append(status.condition.last_transition_time)
    return max(times, default=None)


@dataclass
class _Open:
    body: Mapping[str, Any]
    since: datetime.datetime
    """The later of the status's last change and our last republishing."""


@dataclass
class Stalls:
    """Unfinished Choreography checkouts with a recorded status, and when each last moved."""

    after: float
    """Seconds without a change before a checkout counts as stalled; 0 never."""
    _open: dict[Key, _Open] = field(default_factory=dict)

    def observe(self, body: Mapping[str, Any]) -> None:
        """What the watch saw of a Checkout (any mode, any state)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        status = model.from_json(body.get("status"))
        spec = body.get("spec") or {}
        if spec.get("mode") != CHOREOGRAPHY or status is None or status.finished:
            # not ours to watch: orchestrated, not started yet (its handler is on it), or done
            self._open.pop(key, None)
            return
        changed = last_change(status)
        if changed is None:
            self._open.pop(key, None)
            return
        previous = self._open.get(key)
        since = max(changed, previous.since) if previous else changed
        self._open[key] = _Open(body, since)

    def watched(self, event_type: str, body: Mapping[str, Any]) -> None:
        """A watch event: a Checkout changed (observe it) or was deleted (forget it)."""
        if event_type == "DELETED":
            meta = body["metadata"]
            self.forget(meta.get("namespace") or "", meta.get("name") or "")
        else:
            self.observe(body)

    def forget(self, namespace: str, name: str) -> None:
        self._open.pop((namespace, name), None)

    def due(self, now: datetime.datetime) -> list[Mapping[str, Any]]:
        """The stalled checkouts' bodies, oldest first; each is due again only `after` seconds
        after it was republished (see republished)."""
        if self.after <= 0:
            return []
        limit = now - datetime.timedelta(seconds=self.after)
        stalled = sorted((o.since, k) for k, o in self._open.items() if o.since <= limit)
        return [self._open[key].body for _, key in stalled]

    def republished(self, namespace: str, name: str, now: datetime.datetime) -> None:
        entry = self._open.get((namespace, name))
        if entry is not None:
            entry.since = now

    def __len__(self) -> int:
        return len(self._open)
