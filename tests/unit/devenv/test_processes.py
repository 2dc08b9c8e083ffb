"""A child process of the local environment records how long it took from its start to ready."""

from __future__ import annotations

import sys
from pathlib import Path

from checkout_devenv.processes import Process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def test_ready_seconds_runs_from_start_to_the_probe_first_answering(tmp_path: Path) -> None:
    process = Process("sleeper", SLEEPER, tmp_path / "sleeper.log")
    assert process.ready_seconds is None
    answers = iter([False, False, True])
    try:
        process.start()
        process.wait_ready(lambda: next(answers), timeout=10)
        ready = process.ready_seconds
        assert ready is not None and ready >= 0.1  # two polls missed, 50 ms apart
        process.stop()
        process.start()
        assert process.ready_seconds is None  # a new start is not ready until its probe says so
    finally:
        process.stop()
