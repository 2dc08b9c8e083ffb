"""What `make bench` promises, and how its measurements are summed up and judged. Pure: numbers
in, a verdict and a report out.

Each target is a limit on one figure of one run. Latencies are judged by their median, never by a
single sample, and the two modes are compared as a ratio of medians taken in the same run, so a
busy machine slows both alike."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Samples of one figure, in seconds or any unit."""

    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no samples to summarise")
        return cls(tuple(samples))

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        """The 90th percentile; the largest sample when there are fewer than ten."""
        if len(self.samples) < 10:
            return max(self.samples)
        return statistics.quantiles(self.samples, n=10, method="inclusive")[-1]

    @property
    def low(self) -> float:
        return min(self.samples)


@dataclass(frozen=True)
class Target:
    """`figure` must stay at or under `limit` (or at or over it, when `at_least`)."""

    figure: str
    limit: float
    unit: str
    at_least: bool = False

    def met_by(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit

    def describe(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.limit:g} {self.unit}"


TARGETS = (
    Target("latency median, Orchestration", 0.25, "s"),
    Target("latency median, Choreography", 0.5, "s"),
    Target("latency median ratio, Choreography / Orchestration", 2.5, "x"),
    Target("burst throughput, Orchestration", 10.0, "checkouts/s", at_least=True),
    Target("burst throughput, Choreography", 10.0, "checkouts/s", at_least=True),
    # 1 create, 1 Kopf bookkeeping patch, 2 status writes (a third, now and then, when steps end
    # far apart), 6 Events (start and end of 3 steps)
    Target("API writes per checkout, Orchestration", 10.5, "writes"),
    # the same, but the status is written as the projector sees the events
    Target("API writes per checkout, Choreography", 11.0, "writes"),
    Target("memory, operator", 150.0, "MiB"),
    Target("memory, dispatcher", 100.0, "MiB"),
    Target("memory, each function", 150.0, "MiB"),
)
"""The promises. Every figure a target names must be measured by a run."""


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float

    @property
    def met(self) -> bool:
        return self.target.met_by(self.value)

    def line(self) -> str:
        mark, target = "ok  " if self.met else "MISS", self.target
        value = f"{self.value:>9.3f} {target.unit:<12}"
        return f"{mark} {target.figure:<52} {value} {target.describe()}"


def judge(figures: Mapping[str, float], targets: Sequence[Target] = TARGETS) -> list[Verdict]:
    """One verdict per target, in the targets' order; a figure a target names but the run did not
    measure is a mistake in the benchmark, not a miss."""
    missing = [t.figure for t in targets if t.figure not in figures]
    if missing:
        raise KeyError(f"not measured: {', '.join(missing)}")
    return [Verdict(t, figures[t.figure]) for t in targets]
