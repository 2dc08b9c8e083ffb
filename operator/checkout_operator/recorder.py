"""Recording orchestration's step changes on the Checkout: each change is reported at once (see
reporting: the status model and a Kubernetes Event), and the status is written in batches —
changes that arrive while a write is pending or in flight go out together in the next one — so a
checkout costs few API writes however its steps interleave."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

from checkout_operator import reporting
from checkout_operator.reporting import Announce
from checkout_operator.status import Status, StepUpdate

StatusWriter = Callable[[Status], Awaitable[None]]


class Recorder:
    """Feeds updates to the status model and persists the result. Use as an async context
    manager: leaving it writes whatever is still unwritten, or raises the write's error."""

    def __init__(
        self, status: Status, write: StatusWriter, announce: Announce, window: float = 0.05
    ) -> None:
        self.status = status
        self._write = write
        self._announce = announce
        self._window = window
        self._written: Status | None = None
        self._dirty = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    async def report(self, update: StepUpdate) -> None:
        changed = reporting.advance(self.status, update, self._announce)
        if changed == self.status:
            return  # a repeated or late update: nothing new to say
        self.status = changed
        self._dirty.set()
        if self._writer is not None and self._writer.done():
            self._writer.result()  # a failed write surfaces here, at the next change

    async def _run(self) -> None:
        # One writer, so writes never overtake each other: the last one carries the newest status.
        while not (self._closing and not self._dirty.is_set()):
            await self._dirty.wait()
            if not self._closing:
                await asyncio.sleep(self._window)
            self._dirty.clear()
            snapshot = self.status
            if snapshot != self._written:
                await self._write(snapshot)
                self._written = snapshot

    async def __aenter__(self) -> Recorder:
        self._writer = asyncio.create_task(self._run(), name="status-writer")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Write what is unwritten, even when the body failed: what happened stays recorded."""
        assert self._writer is not None
        self._closing = True
        self._dirty.set()
        await self._writer
