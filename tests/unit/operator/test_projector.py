"""The projector's pipeline, with the broker's messages and the API's writes stood in for: every
event acknowledged once a status holding it is written, in few writes, with no read of a Checkout
it was handed."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any, cast

from checkout_core import binding, broker, events
from checkout_core.api import Phase
from checkout_core.steps import STEPS
from checkout_operator import projection
from checkout_operator import status as model
from checkout_operator.cluster import Checkouts, Events
from checkout_operator.projector import Projector
from tests.builders import ORDER

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
BODY: dict[str, Any] = {
    "metadata": {"namespace": "shop", "name": "c", "uid": "u-1"},
    "spec": {"mode": "Choreography", "order": ORDER},
}


class Message:
    def __init__(self, event: Any) -> None:
        self.headers, self.data = binding.to_nats(event)
        self.subject = broker.subject(event.get_type())
        self.acked = self.naked = 0

    async def ack(self) -> None:
        self.acked += 1

    async def nak(self, delay: float = 0) -> None:
        self.naked += 1


class Store:
    """Checkouts' status writes (each taking a little while) and no reads."""

    def __init__(self) -> None:
        self.written: list[model.Status] = []

    async def write_status(self, namespace: str, name: str, status: model.Status) -> None:
        await asyncio.sleep(0.02)
        self.written.append(status)

    async def get(self, namespace: str, name: str) -> None:
        raise AssertionError("a Checkout handed over is never read")


class Announced(list[tuple[str, str]]):
    def post(self, body: Any, kind: str, reason: str, message: str) -> None:
        self.append((kind, reason))


def _events() -> list[Any]:
    placed = events.order_placed(ORDER, "shop/c", event_id="shop/c/u-1", rewards_member=True)
    replies = [
        events.reply(placed, step.produces, f"/{step.function}", {}, time=T0) for step in STEPS
    ]
    return [placed, *replies]


def test_a_checkout_handed_over_is_projected_with_no_read_and_every_event_acknowledged() -> None:
    store, announced = Store(), Announced()
    placed, *replies = _events()
    messages = [Message(e) for e in (placed, *replies)]

    async def scenario() -> None:
        projector = Projector(
            cast(Any, None), cast(Checkouts, store), cast(Events, announced), 0.2, 1.0
        )
        status = model.initial(STEPS, placed.get_attributes(), 1, T0)
        for update in projection.updates(placed, T0):
            status = model.apply(status, update)
        projector.track(BODY, status, None)
        # the events come in batches of their own, with the writes still under way
        for message in messages:
            await projector.project([cast(Any, message)])
            await asyncio.sleep(0.005)
        for _ in range(200):
            if all(m.acked for m in messages):
                break
            await asyncio.sleep(0.01)
        assert len(projector) == 0  # let go once finished and written
        await projector.close()

    asyncio.run(scenario())
    assert [m.acked for m in messages] == [1, 1, 1, 1]
    assert [m.naked for m in messages] == [0, 0, 0, 0]
    assert [s.phase for s in store.written] == [Phase.SUCCEEDED]
    assert announced == [("Normal", "Succeeded")]
