"""The recorder batches status writes and never lets an older status overwrite a newer one."""

from __future__ import annotations

import asyncio
import datetime

from checkout_core.api import Phase
from checkout_core.steps import STEPS
from checkout_operator.recorder import Recorder
from checkout_operator.status import Change, Status, StepUpdate, initial

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_changes_close_together_cost_one_write_and_the_last_write_is_final() -> None:
    written: list[Status] = []
    notified: list[Change] = []

    async def write(status: Status) -> None:
        await asyncio.sleep(0.01)
        written.append(status)

    async def scenario() -> Status:
        status = initial(STEPS, {"rewardsmember": "true"}, 1, T0)

        def announce(kind: str, reason: str, message: str) -> None:
            notified.append(Change(reason))

        recorder = Recorder(status, write, announce, window=0.05)
        async with recorder:
            for name in ("email", "shipment", "rewards"):
                await recorder.report(StepUpdate(name, Change.STARTED, T0, attempt=1))
            await asyncio.sleep(0.2)
            for name in ("email", "shipment", "rewards"):
                await recorder.report(StepUpdate(name, Change.SUCCEEDED, T0, attempt=1))
            # a repeat is no change: no event, no write
            await recorder.report(StepUpdate("email", Change.SUCCEEDED, T0, attempt=1))
        return recorder.status

    final = asyncio.run(scenario())
    assert len(written) == 2
    assert written[-1] == final
    assert final.phase is Phase.SUCCEEDED
    assert notified == [Change.STARTED] * 3 + [Change.SUCCEEDED] * 3
