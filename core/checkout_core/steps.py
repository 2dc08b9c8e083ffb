"""The step catalogue: the one definition of what a checkout does. Orchestration calls it in
order or in parallel; choreography turns it into triggers; the status model and the projector map
events back to steps through it. Adding a step touches this file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checkout_core import events


@dataclass(frozen=True)
class Step:
    name: str
    """The step's name in status.steps."""
    function: str
    """The function that carries it out (its Service name, less the release prefix)."""
    consumes: str
    """The event type the function takes."""
    produces: str
    """The event type of success."""
    fails: str
    """The event type of a business refusal or of exhausted delivery."""
    when: Mapping[str, str] = field(default_factory=dict)
    """Condition: attributes the consumed event must carry (exact match), e.g. rewards members
    only. A step whose condition does not hold is Skipped; as a trigger it is the filter."""
    outputs: tuple[str, ...] = ()
    """The fields of the success event's data that go to status.steps[].output."""

    def applies(self, attributes: Mapping[str, Any]) -> bool:
        """Whether the step runs for an event with these attributes."""
        return all(attributes.get(k) == v for k, v in self.when.items())

    def trigger_filter(self) -> dict[str, str]:
        """The attribute filter of this step's trigger."""
        return {"type": self.consumes, **self.when}

    def output(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {k: data[k] for k in self.outputs if k in data}


# name, function, consumes, produces, fails; then the condition and the outputs.
STEPS: tuple[Step, ...] = (
    Step("email", "confirmation", events.ORDER_PLACED, events.EMAIL_SENT, events.EMAIL_FAILED,
         outputs=("messageId",)),
    Step("shipment", "warehouse", events.ORDER_PLACED, events.SHIPMENT_CREATED,
         events.SHIPMENT_FAILED, outputs=("shipmentId",)),
    Step("rewards", "rewards", events.ORDER_PLACED, events.POINTS_CREDITED, events.POINTS_FAILED,
         when={events.REWARDS_MEMBER: "true"}, outputs=("points", "balance")),
)  # fmt: skip

BY_NAME: Mapping[str, Step] = {s.name: s for s in STEPS}
BY_FUNCTION: Mapping[str, Step] = {s.function: s for s in STEPS}
BY_RESULT: Mapping[str, tuple[Step, bool]] = {
    **{s.produces: (s, True) for s in STEPS},
    **{s.fails: (s, False) for s in STEPS},
}
"""Event type → (step, succeeded): how a result event maps back to its step."""
