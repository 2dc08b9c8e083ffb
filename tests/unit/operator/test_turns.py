"""Turns: at most so many checkouts at once, and one waiting out a backoff gives its turn up."""

from __future__ import annotations

import asyncio

from checkout_operator.turns import Turns


def test_at_most_so_many_at_once_and_a_pause_lets_another_in() -> None:
    log: list[str] = []

    async def scenario() -> None:
        turns = Turns(1)
        backing_off = asyncio.Event()

        async def retrying() -> None:
            async with turns:
                log.append("retrying starts")
                backing_off.set()
                await turns.pause(0.05)  # its backoff: the turn is free meanwhile
                log.append("retrying ends")

        async def next_in_line() -> None:
            await backing_off.wait()
            async with turns:
                log.append("next runs")

        await asyncio.gather(retrying(), next_in_line())
        # and the turn is whole again: one at a time still
        async with turns:
            assert turns._free.locked()

    asyncio.run(scenario())
    assert log == ["retrying starts", "next runs", "retrying ends"]


def test_a_pause_without_a_turn_is_a_plain_sleep() -> None:
    async def scenario() -> None:
        turns = Turns(1)
        await turns.pause(0.01)
        async with turns:
            assert turns._free.locked()  # nothing was released that was not held

    asyncio.run(scenario())
