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

    def percentile(self, q: float) -> float:
        """The `q`th percentile (0 to 100), interpolated between the two nearest samples, as
        `p90` is. Like `p90`, the largest sample when there are too few to put anything above
        it (fewer than 100 / (100 - q): under 20 for the 95th, under 100 for the 99th), so a
        short run's tail is never reported shorter than what was seen."""
        if not 0 <= q <= 100:
            raise ValueError(f"a percentile is between 0 and 100, not {q:g}")
        ordered = sorted(self.samples)
        if len(ordered) * (100 - q) < 100:
            return ordered[-1]
        position = (len(ordered) - 1) * q / 100
        below = int(position)
        if below + 1 == len(ordered):
            return ordered[below]
        return ordered[below] + (ordered[below + 1] - ordered[below]) * (position - below)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def p99(self) -> float:
        return self.percentile(99)


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


def _both(figure: str, limit: float, unit: str, at_least: bool = False) -> tuple[Target, ...]:
    """The same promise for each mode: `figure` holds `{mode}`."""
    return tuple(
        Target(figure.format(mode=mode), limit, unit, at_least)
        for mode in ("Orchestration", "Choreography")
    )


TARGETS = (
    # One checkout at a time.
    Target("latency median, Orchestration", 0.25, "s"),
    Target("latency median, Choreography", 0.5, "s"),
    Target("latency median ratio, Choreography / Orchestration", 2.5, "x"),
    # Under load: the machine's limit is the smaller of the bare control plane's and the bare
    # functions' throughput, measured in the same run.
    *_both("burst throughput / machine limit, {mode}", 0.6, "x", at_least=True),
    *_both("50/s p99, {mode}", 0.5, "s"),
    *_both("50/s checkouts not succeeded, {mode}", 0.0, "checkouts"),
    # The user's create, two status writes, one Event: no Kopf bookkeeping, no Event per step
    # (the most of any run under load).
    *_both("API writes per checkout, {mode}", 4.0, "writes"),
    Target("memory, operator", 150.0, "MiB"),
    Target("memory, operator, Checkouts stored", 150.0, "MiB"),
    Target("memory, dispatcher", 100.0, "MiB"),
    Target("memory, each function", 150.0, "MiB"),
    Target("start-up, slowest part", 1.0, "s"),
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
