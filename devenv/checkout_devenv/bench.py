"""`make bench`: on a local environment of its own, what a user compares — judged against
checkout_devenv.targets.

1. The machine's bare limits, beside us in the same run: the control plane doing the least a
   visible checkout needs (a create and two status patches, on a CRD no operator watches), and
   the three functions called directly. The smaller is the machine's limit.
2. Latency, one checkout at a time, the modes taking turns so that whatever else the machine does
   slows both alike, with about a hundred Checkouts stored.
3. Each mode under load: a burst, then paced runs (25/s and 50/s for a minute each), with
   percentiles, throughput, API writes per checkout by resource and verb, and CPU seconds per
   checkout of every part.
4. Resident memory of every part; the operator's again with ten thousand Checkouts stored (made
   while it is stopped), and latency at that size.
5. How long each part took to start.

The figures, the samples and the verdicts are written to `bench.json` in the environment's folder,
`.dev/bench/`."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from checkout_devenv import limits, load
from checkout_devenv.assets import Assets
from checkout_devenv.controlplane import Request, spent
from checkout_devenv.environment import LocalEnvironment
from checkout_devenv.load import Burst, Paced, Result, Schedule
from checkout_devenv.processes import cpu_seconds, resident_bytes
from checkout_devenv.runs import Body, fresh
from checkout_devenv.targets import TARGETS, Summary, judge

MODES = {
    "Orchestration": {"mode": "Orchestration", "strategy": "Parallel"},
    "Choreography": {"mode": "Choreography"},
}
"""What each mode's checkouts set in their spec, on top of the example."""
LOADS: dict[str, Schedule] = {
    "burst": Burst(in_flight=32),
    "25/s": Paced(25, 60),
    "50/s": Paced(50, 60),
}
"""The runs under load, each in both modes; a burst's size is `Bench.burst`."""
SUSTAINED = "50/s"
"""The run whose latency and completeness are promised."""
NAMESPACE = "default"
UNCOUNTED = frozenset({"leases"})
"""Writes no checkout causes: the control plane's own heartbeats."""
STORED = 10_000
"""Checkouts stored for the operator's memory and latency at size."""
MIB = 1024 * 1024
FUNCTIONS = ("confirmation", "warehouse", "rewards")


@dataclass
class Bench:
    """What a run does: sizes of its parts."""

    rounds: int = 15
    """Checkouts of each mode, one at a time, for latency."""
    burst: int = 200
    warm: int = 50
    """Checkouts of each mode before anything is measured."""
    limit_objects: int = 600
    limit_orders: int = 300
    stored: int = STORED
    paced: bool = True
    """Run the paced loads."""

    @classmethod
    def small(cls) -> Bench:
        """Every part, tiny and without the paced runs: shows the bench works, measures nothing
        worth quoting."""
        return cls(
            rounds=2, burst=5, warm=2, limit_objects=20, limit_orders=10, stored=40, paced=False
        )


@dataclass
class Loaded:
    """One run under load of one mode."""

    result: Result
    writes: dict[Request, int]
    """Write requests the API server served during the run, by resource, subresource, verb."""
    cpu: dict[str, float]
    """CPU seconds each part used during the run."""

    @property
    def count(self) -> int:
        return len(self.result.records)

    @property
    def writes_per_checkout(self) -> float:
        counted = sum(n for (resource, _, _), n in self.writes.items() if resource not in UNCOUNTED)
        return counted / self.count

    def cpu_per_checkout(self) -> dict[str, float]:
        return {part: seconds / self.count for part, seconds in self.cpu.items()}


@dataclass
class Run:
    """Everything one run measured."""

    limits: dict[str, float] = field(default_factory=dict)
    """Per second: "control plane" objects, "functions" orders."""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Seconds, one checkout at a time, by mode, with few Checkouts stored."""
    latencies_stored: dict[str, list[float]] = field(default_factory=dict)
    """The same with `Bench.stored` Checkouts stored."""
    loads: dict[str, dict[str, Loaded]] = field(default_factory=dict)
    """By mode, then by load (see LOADS)."""
    memory: dict[str, int] = field(default_factory=dict)
    """Resident bytes of each part (with its children) after the loads."""
    memory_stored: int = 0
    """The operator's resident bytes with `Bench.stored` Checkouts stored."""
    startup: dict[str, float] = field(default_factory=dict)
    """Seconds from start to ready, by part, each started on its own."""
    startup_together: dict[str, float] = field(default_factory=dict)
    """The same, as the environment first started (all at once, waiting for one another)."""
    stored: int = 0

    @property
    def limit(self) -> float:
        """The machine's limit: the smaller of the two bare ones."""
        return min(self.limits.values())

    def figures(self) -> dict[str, float]:
        """The figures checkout_devenv.targets names, and a few more worth keeping."""
        medians = {mode: Summary.of(samples).median for mode, samples in self.latencies.items()}
        functions = [v for k, v in self.memory.items() if k in FUNCTIONS]
        figures = {
            "machine limit": self.limit,
            "latency median ratio, Choreography / Orchestration": (
                medians["Choreography"] / medians["Orchestration"]
            ),
            "memory, operator": self.memory["operator"] / MIB,
            "memory, dispatcher": self.memory["dispatcher"] / MIB,
            "memory, each function": max(functions) / MIB,
            "memory, operator, Checkouts stored": self.memory_stored / MIB,
            "start-up, slowest part": max(self.startup.values()),
        }
        for mode, runs in self.loads.items():
            burst, sustained = runs["burst"].result, runs.get(SUSTAINED)
            figures[f"latency median, {mode}"] = medians[mode]
            stored = Summary.of(self.latencies_stored[mode]).median
            figures[f"latency median, {mode}, Checkouts stored"] = stored
            figures[f"latency change with Checkouts stored, {mode}"] = stored / medians[mode]
            figures[f"burst throughput, {mode}"] = burst.throughput
            figures[f"burst throughput / machine limit, {mode}"] = burst.throughput / self.limit
            figures[f"API writes per checkout, {mode}"] = max(
                loaded.writes_per_checkout for loaded in runs.values()
            )
            if sustained is not None:
                result = sustained.result
                figures[f"{SUSTAINED} p99, {mode}"] = _or_infinity(result.p99)
                figures[f"{SUSTAINED} checkouts not succeeded, {mode}"] = float(
                    len(result.records) - result.succeeded
                )
        return figures


def _or_infinity(value: float | None) -> float:
    return float("inf") if value is None else value


def checkout(example: Body, mode: str, tag: str) -> Body:
    """The example as a fresh Checkout of `mode`, its name and order id ending in `tag`."""
    body = fresh(example, f"{tag}-{mode[:4].lower()}")
    body["spec"].update(copy.deepcopy(MODES[mode]))
    return body


def parts(env: LocalEnvironment) -> dict[str, int]:
    """Process ids of every part that works for a checkout."""
    etcd, apiserver = env.control_plane.pids()
    found = {"etcd": etcd, "kube-apiserver": apiserver, "nats": env.broker.process.pid}
    found |= {"operator": env.operator.process.pid, "dispatcher": env.dispatcher.pid}
    found |= {name: server.pid for name, server in env.functions.servers.items()}
    return {name: pid for name, pid in found.items() if pid}


def _cpu(env: LocalEnvironment) -> dict[str, float]:
    used = {name: cpu_seconds(pid) for name, pid in parts(env).items()}
    used["load generator"] = time.process_time()
    return used


def _succeeded(result: Result, what: str) -> None:
    count = len(result.records)
    if result.succeeded < count:
        broken = next(r for r in result.records if r.phase != "Succeeded")
        raise RuntimeError(
            f"{what}: {count - result.succeeded} of {count} checkout(s) did not "
            f"succeed, e.g. {broken.name}: {broken.phase or broken.error or 'unfinished'}"
        )


class Measuring:
    """One bench run on a running environment."""

    def __init__(self, env: LocalEnvironment, example: Body, bench: Bench) -> None:
        self.env, self.example, self.bench = env, example, bench
        self.tag = time.strftime("%H%M%S")
        self.created = 0

    def bodies(self, mode: str, label: str, count: int) -> list[Body]:
        self.created += count
        return [checkout(self.example, mode, f"{label}{self.tag}-{i}") for i in range(count)]

    def run(self, bodies: Sequence[Body], schedule: Schedule, what: str) -> Result:
        timeout = 60.0 + len(bodies) / 10
        result = asyncio.run(load.run(self.env.kubeconfig, NAMESPACE, bodies, schedule, timeout))
        _succeeded(result, what)
        return result

    def one_at_a_time(self, label: str) -> dict[str, list[float]]:
        latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
        for i in range(self.bench.rounds):
            for mode in MODES:
                (body,) = self.bodies(mode, f"{label}{i}-", 1)
                result = self.run([body], Burst(in_flight=1), f"{mode}, one at a time")
                (latency,) = load.latencies(result.records)
                latencies[mode].append(latency)
        return latencies

    def loaded(self, mode: str, label: str, schedule: Schedule) -> Loaded:
        count = schedule.count if isinstance(schedule, Paced) else self.bench.burst
        bodies = self.bodies(mode, label.replace("/", "") + "-", count)
        writes, cpu = self.env.control_plane.writes(), _cpu(self.env)
        result = self.run(bodies, schedule, f"{mode}, {label}")
        time.sleep(1.0)  # a finished checkout's Event is posted just after its status
        used = _cpu(self.env)
        return Loaded(
            result,
            spent(writes, self.env.control_plane.writes()),
            {part: used[part] - cpu.get(part, 0.0) for part in used},
        )

    def started_alone(self) -> dict[str, float]:
        """Each of our parts stopped and started again on its own, the others idle: its time to
        ready, rather than the time it waited for the machine while all started at once."""
        env, times = self.env, {}
        for name, server in env.functions.servers.items():
            server.stop()
            server.start()
            times[name] = server.ready_seconds or 0.0
        env.dispatcher.stop()
        env.dispatcher.start()
        times["dispatcher"] = env.dispatcher.process.ready_seconds or 0.0
        env.operator.stop()
        env.operator.start()
        times["operator"] = env.operator.process.ready_seconds or 0.0
        return times

    def measure(self) -> Run:
        env, bench, run = self.env, self.bench, Run()
        run.startup_together = env.startup_seconds()
        limits.install(env.kubeconfig)
        run.limits["control plane"] = asyncio.run(
            limits.control_plane(env.kubeconfig, self.example, bench.limit_objects)
        ).per_second
        orders = limits.orders(self.example, bench.limit_orders)
        run.limits["functions"] = asyncio.run(
            limits.functions_direct(env.functions.urls, orders)
        ).per_second
        # Warm up (the first Choreography checkout also waits for the Triggers to be Ready),
        # and store about a hundred.
        for mode in MODES:
            self.run(self.bodies(mode, "w", bench.warm), Burst(), f"{mode}, warming up")
        run.latencies = self.one_at_a_time("l")
        loads = {label: s for label, s in LOADS.items() if bench.paced or label == "burst"}
        for label, schedule in loads.items():
            for mode in MODES:
                run.loads.setdefault(mode, {})[label] = self.loaded(mode, label, schedule)
        run.memory = {name: resident_bytes(pid) for name, pid in parts(env).items()}
        run.startup = self.started_alone()
        # The operator at size: the Checkouts stored while it is stopped, as after an outage.
        env.operator.stop()
        more = max(0, bench.stored - self.created)
        stored = [fresh(self.example, f"s{self.tag}-{i}") for i in range(more)]
        asyncio.run(load.fill(env.kubeconfig, NAMESPACE, stored))
        self.created += more
        run.stored = self.created
        env.operator.start()
        run.startup["operator, stored"] = env.operator.process.ready_seconds or 0.0
        _settle(lambda: cpu_seconds(env.operator.process.pid or 0))
        run.memory_stored = resident_bytes(env.operator.process.pid or 0)
        run.latencies_stored = self.one_at_a_time("s")
        return run


def _settle(used: Callable[[], float], quiet: float = 0.05, longest: float = 120.0) -> None:
    """Wait until a process has finished what it started with (it used less than `quiet` CPU
    seconds over a second), for at most `longest` seconds."""
    deadline, before = time.monotonic() + longest, used()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = used()
        if now - before < quiet:
            return
        before = now


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def report(run: Run) -> list[str]:
    lines = [
        f"the machine's bare limits: control plane {run.limits['control plane']:.0f} objects/s "
        f"(create + 2 status patches), functions {run.limits['functions']:.0f} orders/s "
        f"(all three, called directly); the limit: {run.limit:.0f}/s",
        "",
        "one at a time (ms)        median    p90    min",
    ]
    for title, latencies in (
        ("", run.latencies),
        (f", {run.stored:,} stored", run.latencies_stored),
    ):
        for mode, samples in latencies.items():
            s = Summary.of(samples)
            lines.append(f"  {mode + title:<24}{_ms(s.median):>6}{_ms(s.p90):>7}{_ms(s.low):>7}")
    lines += [
        "",
        f"{'under load':<26}{'count':>6}{'per s':>8}{'÷ limit':>8}{'p50':>6}{'p95':>6}{'p99':>6}"
        f"{'late':>6}{'failed':>7}{'writes':>7}   (ms; writes per checkout)",
    ]
    for mode, runs in run.loads.items():
        for label, loaded in runs.items():
            r = loaded.result
            lines.append(
                f"  {mode + ' ' + label:<24}{loaded.count:>6}{r.throughput:>8.1f}"
                f"{r.throughput / run.limit:>8.2f}{_ms(r.p50):>6}{_ms(r.p95):>6}{_ms(r.p99):>6}"
                f"{_ms(r.lag):>6}{loaded.count - r.succeeded:>7}{loaded.writes_per_checkout:>7.2f}"
            )
    lines.append("")
    for mode, runs in run.loads.items():
        for label, loaded in runs.items():
            made = {
                "/".join(filter(None, k[:2])) + f" {k[2]}": round(n / loaded.count, 2)
                for k, n in loaded.writes.items()
                if k[0] not in UNCOUNTED
            }
            lines.append(
                f"writes per checkout, {mode} {label}: {json.dumps(dict(sorted(made.items())))}"
            )
    lines.append("")
    for mode, runs in run.loads.items():
        loaded = runs.get(SUSTAINED) or runs["burst"]
        cpu = ", ".join(f"{p} {s * 1000:.1f}" for p, s in loaded.cpu_per_checkout().items())
        label = SUSTAINED if SUSTAINED in runs else "burst"
        lines.append(f"CPU ms per checkout, {mode} {label}: {cpu}")
    memory = ", ".join(f"{name} {rss / MIB:.0f}" for name, rss in run.memory.items())
    lines.append(f"resident memory (MiB): {memory}")
    lines.append(
        f"operator with {run.stored:,} Checkouts stored: {run.memory_stored / MIB:.0f} MiB"
    )
    for title, times in (("each on its own", run.startup), ("all at once", run.startup_together)):
        started = ", ".join(f"{name} {seconds:.2f}" for name, seconds in times.items())
        lines.append(f"start-up to ready (s), {title}: {started}")
    return lines


def _json(run: Run, bench: Bench) -> dict[str, Any]:
    return {
        "bench": bench.__dict__,
        "limits": run.limits,
        "latencies": run.latencies,
        "latencies_stored": run.latencies_stored,
        "loads": {
            mode: {
                label: {
                    "figures": loaded.result.figures(),
                    "writes": {"/".join(k): n for k, n in loaded.writes.items()},
                    "cpu": loaded.cpu,
                    "latencies": load.latencies(loaded.result.records),
                }
                for label, loaded in runs.items()
            }
            for mode, runs in run.loads.items()
        },
        "memory": run.memory,
        "memory_stored": run.memory_stored,
        "startup": run.startup,
        "startup_together": run.startup_together,
        "stored": run.stored,
        "figures": run.figures(),
    }


def main(
    devdir: Path, crd_paths: Sequence[Path], example_path: Path, bench: Bench | None = None
) -> int:
    """Run in `devdir`/bench, made afresh: nothing carried over, and `make up`'s state is left
    alone."""
    bench = bench or Bench()
    example: Any = yaml.safe_load(example_path.read_text())
    workdir = devdir / "bench"
    shutil.rmtree(workdir, ignore_errors=True)
    env = LocalEnvironment(Assets.from_environment(), workdir, crd_paths)
    with env:
        run = Measuring(env, example, bench).measure()
    print("\n".join(report(run)))
    print()
    figures = run.figures()
    # A small run, without the paced runs, is judged on what it measured.
    targets = TARGETS if bench.paced else [t for t in TARGETS if t.figure in figures]
    verdicts = judge(figures, targets)
    print("\n".join(v.line() for v in verdicts))
    results: Mapping[str, Any] = {
        **_json(run, bench),
        "missed": [v.target.figure for v in verdicts if not v.met],
    }
    (workdir / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nsamples and figures: {workdir / 'bench.json'}")
    return 0 if all(v.met for v in verdicts) else 1
