"""The recorder writes few statuses — the first one soon, a finished one at once, the ones in
between at most every interval — and never lets an older status overwrite a newer one."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from checkout_core.api import Phase
from checkout_core.steps import STEPS
from checkout_operator.recorder import Recorder
from checkout_operator.status import Change, Status, StepUpdate, initial

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NAMES = ("email", "shipment", "rewards")
LONG = 3600.0
"""An interval no test waits for."""


class Written(list[Status]):
    async def __call__(self, status: Status) -> None:
        await asyncio.sleep(0.01)
        self.append(status)


class Announced(list[tuple[str, str, str]]):
    def __call__(self, kind: str, reason: str, message: str) -> None:
        self.append((kind, reason, message))


def _fresh() -> Status:
    return initial(STEPS, {"rewardsmember": "true"}, 1, T0)


def _at(ms: int) -> datetime.datetime:
    return T0 + datetime.timedelta(milliseconds=ms)


def test_a_checkout_that_finishes_costs_two_writes_and_one_event() -> None:
    written, announced = Written(), Announced()

    async def scenario() -> Status:
        recorder = Recorder(_fresh(), written, announced, window=0.05, interval=LONG)
        async with recorder:
            for name in NAMES:
                await recorder.report(StepUpdate(name, Change.STARTED, T0, attempt=1))
            await asyncio.sleep(0.2)  # the first write, Running, goes out after the window
            for i, name in enumerate(NAMES):
                await recorder.report(StepUpdate(name, Change.SUCCEEDED, _at(10 + i), attempt=1))
            # a repeat is no change: no event, no write
            await recorder.report(StepUpdate("email", Change.SUCCEEDED, _at(10), attempt=1))
        return recorder.status

    final = asyncio.run(scenario())
    assert [s.phase for s in written] == [Phase.RUNNING, Phase.SUCCEEDED]
    assert written[-1] == final
    assert announced == [
        ("Normal", "Succeeded", "Succeeded: email 10 ms, shipment 11 ms, rewards 12 ms")
    ]


def test_changes_between_the_first_write_and_the_end_wait_for_the_interval() -> None:
    written = Written()

    async def scenario() -> None:
        recorder = Recorder(_fresh(), written, Announced(), window=0.01, interval=LONG)
        recorder.start()
        await recorder.report(StepUpdate("email", Change.STARTED, T0, attempt=1))
        await recorder.written(recorder.version)  # the first write
        await recorder.report(StepUpdate("shipment", Change.STARTED, T0, attempt=1))
        await recorder.report(StepUpdate("email", Change.SUCCEEDED, _at(5), attempt=1))
        await asyncio.sleep(0.2)
        assert len(written) == 1  # still the first: the interval has not passed
        for name in ("shipment", "rewards"):
            await recorder.report(StepUpdate(name, Change.SUCCEEDED, _at(9), attempt=1))
        await recorder.written(recorder.version)  # finished: written at once
        await recorder.close()

    asyncio.run(scenario())
    assert [s.phase for s in written] == [Phase.RUNNING, Phase.SUCCEEDED]


def test_a_status_already_recorded_is_not_written_again_only_its_end_is() -> None:
    written = Written()
    recorded = initial(STEPS, {"rewardsmember": "true"}, 1, T0)

    async def scenario() -> None:
        recorder = Recorder(
            recorded, written, Announced(), window=0.0, interval=LONG, recorded=recorded
        )
        async with recorder:
            for name in NAMES:
                await recorder.report(StepUpdate(name, Change.STARTED, T0, attempt=1))
            await asyncio.sleep(0.05)
            for name in NAMES:
                await recorder.report(StepUpdate(name, Change.SUCCEEDED, _at(3), attempt=1))

    asyncio.run(scenario())
    assert [s.phase for s in written] == [Phase.SUCCEEDED]


def test_a_failed_write_is_raised_to_whoever_waits_for_it() -> None:
    async def refuse(status: Status) -> None:
        raise ConnectionError("API server away")

    async def scenario() -> None:
        recorder = Recorder(_fresh(), refuse, Announced(), window=0.0, interval=LONG)
        recorder.start()
        await recorder.report(StepUpdate("email", Change.STARTED, T0, attempt=1))
        with pytest.raises(ConnectionError, match="API server away"):
            await recorder.written(recorder.version)
        with pytest.raises(ConnectionError):
            await recorder.report(StepUpdate("email", Change.SUCCEEDED, _at(1), attempt=1))

    asyncio.run(scenario())


def test_a_checkout_done_within_the_window_costs_one_write() -> None:
    written = Written()

    async def scenario() -> None:
        async with Recorder(_fresh(), written, Announced(), window=LONG) as recorder:
            for name in NAMES:
                await recorder.report(StepUpdate(name, Change.STARTED, T0, attempt=1))
            for name in NAMES:
                await recorder.report(StepUpdate(name, Change.SUCCEEDED, _at(5), attempt=1))
            await recorder.written(recorder.version)

    asyncio.run(scenario())
    assert [s.phase for s in written] == [Phase.SUCCEEDED]


def test_a_status_never_recorded_is_written_after_the_window_though_nothing_happens() -> None:
    # (a Choreography checkout whose order.placed the broker lost: seen, so it can be repaired)
    written = Written()
    fresh = _fresh()

    async def scenario() -> None:
        recorder = Recorder(fresh, written, Announced(), window=0.01, interval=LONG)
        recorder.start()
        for _ in range(500):
            if written:
                break
            await asyncio.sleep(0.01)
        recorder.cancel()  # not closed: what was written, the window wrote

    asyncio.run(scenario())
    assert written == [fresh]
