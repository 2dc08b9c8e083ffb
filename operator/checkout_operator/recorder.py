"""Recording a checkout's step changes on the Checkout, in few writes. Each change is reported at
once (see reporting), and the status is written by one writer, so writes never overtake each
other and the last one carries the newest status:

- a finished status is written as soon as the writer is free;
- the first unfinished one `window` seconds after the checkout started, so `kubectl get` shows a
  checkout Running while it runs — unless it has finished by then;
- later unfinished ones at most every `interval` seconds, each carrying every change since.

A checkout that finishes within `window` so costs one status write, one that finishes within
`interval` of its first write two, however its steps interleave; a slow one is still seen to
move."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType

from checkout_operator import reporting
from checkout_operator.reporting import Announce
from checkout_operator.status import Status, StepUpdate

StatusWriter = Callable[[Status], Awaitable[None]]


class Recorder:
    """Feeds updates to the status model and persists the result. Use as an async context
    manager (or `start` and `close`): leaving it writes whatever is still unwritten, or raises
    the write's error."""

    def __init__(
        self,
        status: Status,
        write: StatusWriter,
        announce: Announce,
        window: float = 0.2,
        interval: float = 1.0,
        *,
        recorded: Status | None = None,
    ) -> None:
        """`recorded`: the status on the Checkout already, if any (the next write is then not
        the first); `status`, where the checkout stands, is written unless it is that."""
        self.status = status
        self._write = write
        self._announce = announce
        self._window = window
        self._interval = interval
        self._written: Status | None = recorded
        self._version = 0
        self._written_version = 0
        self._last_write: float | None = None
        self._dirty = asyncio.Event()
        self._urgent = asyncio.Event()
        self._flushed = asyncio.Condition()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = False
        self._error: Exception | None = None

    @property
    def version(self) -> int:
        """How many changes have been reported; see `written`."""
        return self._version

    async def report(self, update: StepUpdate) -> None:
        changed = reporting.advance(self.status, update, self._announce)
        if changed == self.status:
            return  # a repeated or late update: nothing new to say
        self.status = changed
        self._version += 1
        self._dirty.set()
        if changed.finished:
            self._urgent.set()
        if self._writer is not None and self._writer.done():
            self._writer.result()  # a failed write surfaces here, at the next change

    async def written(self, version: int) -> None:
        """Wait until a status with the first `version` changes is on the Checkout; raises the
        write's error when writing failed."""
        async with self._flushed:
            while self._written_version < version:
                if self._error is not None:
                    raise self._error
                if self._stopped or self._writer is None:
                    raise RuntimeError("the recorder is not writing")
                await self._flushed.wait()

    def _delay(self, now: float) -> float:
        if self._closing or self.status.finished:
            return 0.0
        if self._last_write is None:
            return self._window if self._written is None else self._interval
        return max(0.0, self._last_write + self._interval - now)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        if self._written is not None:
            self._last_write = loop.time()
        try:
            while not (self._closing and not self._dirty.is_set()):
                await self._dirty.wait()
                delay = self._delay(loop.time())
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._urgent.wait(), delay)
                self._dirty.clear()
                snapshot, version = self.status, self._version
                if snapshot != self._written:
                    await self._write(snapshot)
                    self._written = snapshot
                    self._last_write = loop.time()
                async with self._flushed:
                    self._written_version = version
                    self._flushed.notify_all()
        except Exception as error:
            self._error = error
            raise
        finally:
            self._stopped = True
            async with self._flushed:
                self._flushed.notify_all()  # waiters see the writer gone, and why

    def start(self) -> None:
        if self.status != self._written:
            self._dirty.set()
        self._writer = asyncio.create_task(self._run(), name="status-writer")

    async def close(self) -> None:
        """Write what is unwritten; raises the write's error."""
        assert self._writer is not None
        self._closing = True
        self._dirty.set()
        self._urgent.set()
        await self._writer

    def cancel(self) -> None:
        """Stop, writing nothing more (the Checkout is gone, or what is in memory is not to be
        trusted)."""
        if self._writer is not None:
            self._writer.cancel()

    async def __aenter__(self) -> Recorder:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Write what is unwritten, even when the body failed: what happened stays recorded."""
        await self.close()
