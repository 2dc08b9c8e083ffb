"""Waiting in tests for something that happens on its own time: one `eventually` for all."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    what: str,
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 60.0,
    interval: float = 0.1,
    tolerate: tuple[type[BaseException], ...] = (),
    logs: Callable[[], str] | str = "",
) -> T:
    """Call `check` until what it returns satisfies `until` (by default: is true), and return
    that. An exception in `tolerate` (a broker restarting, say) counts as "not yet". On timeout
    the test fails naming `what`, with the last value seen and `logs`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
        except tolerate as error:
            last = error
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() > deadline:
            text = logs() if callable(logs) else logs
            pytest.fail(f"not true after {timeout:g}s: {what}; last seen: {last!r}\n{text}")
        time.sleep(interval)
