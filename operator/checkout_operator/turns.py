"""How many checkouts the operator works on at once. A burst waits its turn instead of crowding the
functions (each serves a few calls at a time), so every checkout, once begun, finishes quickly.
A checkout waiting out a retry's backoff crowds nobody: it gives its turn up meanwhile, so a
function that is down does not hold every other checkout up."""

from __future__ import annotations

import asyncio
import contextvars
from types import TracebackType

_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("holding_a_turn", default=False)


class Turns:
    def __init__(self, at_once: int) -> None:
        self._free = asyncio.Semaphore(at_once)

    async def __aenter__(self) -> Turns:
        await self._free.acquire()
        _holding.set(True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _holding.set(False)
        self._free.release()

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds`, the turn given up meanwhile (when this task holds one) and taken
        again after."""
        if not _holding.get():
            await asyncio.sleep(seconds)
            return
        self._free.release()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self._free.acquire()
