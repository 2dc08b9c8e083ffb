"""What the operator does with a Checkout its watch shows it. Kopf's stateful handlers would
keep their own bookkeeping on every Checkout — an annotation patched after each handler, one API
write per checkout that nobody reads — so the operator watches Checkouts with a plain event
handler and decides here, from the status it writes itself, whether a Checkout needs work. Pure.

- Orchestration: work until the status is finished.
- Choreography: work (record the status, publish `order.placed`) when there is no status yet, or
  when the operator starts and finds one unfinished (it may have stopped before publishing; a
  repeat is deduplicated). After that the projector carries it, and the repair loop looks after
  one that stalls.
- Never twice at once, never a Checkout being deleted, and never again for an older copy of a
  Checkout whose work this operator has already done (the watch can deliver an intermediate
  status after the final one was written).

The watch shows only unfinished Checkouts (UNFINISHED): one that finishes leaves it as DELETED,
and that event carries the Checkout as it was before (still unfinished), as the API server's
filtered watches do: a DELETED event cannot tell a finished Checkout from a deleted one."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from checkout_core.api import CHOREOGRAPHY, ORCHESTRATION, Phase
from checkout_operator import status as model

LISTED = None
"""The event type of a Checkout seen in the watch's listing: at start-up, or when the watch is
re-established."""
DELETED = "DELETED"
"""The event type of a Checkout gone from the watch: deleted, or finished (see UNFINISHED)."""
UNFINISHED = f"status.phase!={Phase.SUCCEEDED},status.phase!={Phase.FAILED}"
"""The field selector of the operator's watch: the Checkouts that may still need work."""


class Action(enum.Enum):
    NOTHING = "nothing"
    ORCHESTRATE = "orchestrate"
    CHOREOGRAPH = "choreograph"
    FORGET = "forget"
    """The Checkout left the watch: it finished, or it was deleted. Forget it; work still under
    way ends by itself (a deleted Checkout's next status write finds it gone)."""


def decide(
    event_type: str | None, body: Mapping[str, Any], *, busy: bool, concluded: bool
) -> Action:
    """`busy`: work on this Checkout is under way here; `concluded`: this operator finished its
    work on it (an orchestration to its end, a choreography's start)."""
    if event_type == DELETED:
        return Action.FORGET
    status = model.from_json(body.get("status"))
    finished = status is not None and status.finished
    if busy or concluded or finished or body["metadata"].get("deletionTimestamp"):
        return Action.NOTHING
    mode = (body.get("spec") or {}).get("mode", ORCHESTRATION)
    if mode == ORCHESTRATION:
        return Action.ORCHESTRATE
    if mode == CHOREOGRAPHY and (status is None or event_type is LISTED):
        return Action.CHOREOGRAPH
    return Action.NOTHING
