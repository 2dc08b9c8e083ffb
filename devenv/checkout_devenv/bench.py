"""`make bench`: on a local environment of its own, how long a Checkout takes from create to
Succeeded in each mode, how many a burst gets through per second, how many API writes one costs,
and how much memory each part holds afterwards — judged against checkout_devenv.targets.

The modes take turns, one checkout at a time, so that whatever else the machine is doing slows both
alike; then each mode gets a burst of its own. The figures, the samples and the verdicts are written
to `bench.json` in the environment's folder, `.dev/bench/`."""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from checkout_devenv.assets import Assets
from checkout_devenv.controlplane import Request, spent
from checkout_devenv.environment import LocalEnvironment, api_client
from checkout_devenv.processes import resident_bytes
from checkout_devenv.runs import Body, Outcome, fresh, run_checkouts
from checkout_devenv.targets import Summary, judge

MODES = {
    "Orchestration": {"mode": "Orchestration", "strategy": "Parallel"},
    "Choreography": {"mode": "Choreography"},
}
"""What each mode's checkouts set in their spec, on top of the example."""
COUNTED = ("checkouts", "events")
"""The resources whose writes a checkout causes (the API server's own leases are left out)."""
NAMESPACE = "default"
MIB = 1024 * 1024


@dataclass
class Run:
    """Everything one run measured."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    bursts: dict[str, float] = field(default_factory=dict)
    """Seconds from the first create of a mode's burst to its last checkout finished."""
    writes: dict[str, dict[Request, int]] = field(default_factory=dict)
    """Write requests during each mode's burst, by resource, subresource and verb."""
    memory: dict[str, int] = field(default_factory=dict)
    """Resident bytes of each part (with its children) after the bursts."""
    burst: int = 0

    def writes_per_checkout(self, mode: str) -> float:
        made = self.writes[mode]
        return sum(n for (resource, _, _), n in made.items() if resource in COUNTED) / self.burst

    def figures(self) -> dict[str, float]:
        """The figures checkout_devenv.targets names."""
        medians = {mode: Summary.of(samples).median for mode, samples in self.latencies.items()}
        functions = [v for k, v in self.memory.items() if k not in ("operator", "dispatcher")]
        figures = {
            "latency median ratio, Choreography / Orchestration": (
                medians["Choreography"] / medians["Orchestration"]
            ),
            "memory, operator": self.memory["operator"] / MIB,
            "memory, dispatcher": self.memory["dispatcher"] / MIB,
            "memory, each function": max(functions) / MIB,
        }
        for mode in MODES:
            figures[f"latency median, {mode}"] = medians[mode]
            figures[f"burst throughput, {mode}"] = self.burst / self.bursts[mode]
            figures[f"API writes per checkout, {mode}"] = self.writes_per_checkout(mode)
        return figures


def checkout(example: Body, mode: str, tag: str) -> Body:
    """The example as a fresh Checkout of `mode`, its name and order id ending in `tag`."""
    body = fresh(example, f"{tag}-{mode[:4].lower()}")
    body["spec"].update(copy.deepcopy(MODES[mode]))
    return body


def _all_succeeded(outcomes: Sequence[Outcome]) -> None:
    failed = [o.body for o in outcomes if o.body["status"]["phase"] != "Succeeded"]
    if failed:
        status = failed[0]["status"]
        raise RuntimeError(
            f"{len(failed)} checkout(s) did not succeed, e.g. {failed[0]['metadata']['name']}: "
            f"{json.dumps(status.get('steps'))}"
        )


def measure(
    env: LocalEnvironment, api: client.ApiClient, example: Body, rounds: int, burst: int
) -> Run:
    tag = time.strftime("%H%M%S")
    run = Run(burst=burst)
    # Warm up: the first Choreography checkout also waits for the Triggers to be ready.
    for mode in MODES:
        _all_succeeded(run_checkouts(api, NAMESPACE, [checkout(example, mode, f"w{tag}")]))
    for i in range(rounds):
        for mode in MODES:
            body = checkout(example, mode, f"l{tag}-{i}")
            outcomes = run_checkouts(api, NAMESPACE, [body])
            _all_succeeded(outcomes)
            run.latencies.setdefault(mode, []).append(outcomes[0].seconds)
    for mode in MODES:
        bodies = [checkout(example, mode, f"b{tag}-{i}") for i in range(burst)]
        before = env.control_plane.writes()
        began = time.monotonic()
        outcomes = run_checkouts(api, NAMESPACE, bodies, timeout=60.0 + burst)
        run.bursts[mode] = time.monotonic() - began
        _all_succeeded(outcomes)
        time.sleep(1.0)  # the operator's bookkeeping lands just after a checkout finishes
        run.writes[mode] = spent(before, env.control_plane.writes())
    parts = {"operator": env.operator.process.pid, "dispatcher": env.dispatcher.pid}
    parts |= {name: server.pid for name, server in env.functions.servers.items()}
    run.memory = {name: resident_bytes(pid) if pid else 0 for name, pid in parts.items()}
    return run


def report(run: Run) -> list[str]:
    lines = [
        f"{'mode':<15}{'median':>9}{'p90':>9}{'min':>9}   "
        f"{'burst of ' + str(run.burst):>12}{'per s':>8}{'writes/chk':>12}"
    ]
    for mode in MODES:
        s = Summary.of(run.latencies[mode])
        lines.append(
            f"{mode:<15}{s.median:>8.3f}s{s.p90:>8.3f}s{s.low:>8.3f}s   "
            f"{run.bursts[mode]:>11.2f}s{run.burst / run.bursts[mode]:>8.1f}"
            f"{run.writes_per_checkout(mode):>12.2f}"
        )
    lines.append("")
    for mode in MODES:
        made = {"/".join(filter(None, k[:2])) + f" {k[2]}": n for k, n in run.writes[mode].items()}
        lines.append(f"writes in the {mode} burst: {json.dumps(dict(sorted(made.items())))}")
    memory = ", ".join(f"{name} {rss / MIB:.0f}" for name, rss in run.memory.items())
    lines.append(f"resident memory (MiB): {memory}")
    return lines


def main(
    devdir: Path, crd_paths: Sequence[Path], example_path: Path, rounds: int, burst: int
) -> int:
    """Run in `devdir`/bench, made afresh: nothing carried over, and `make up`'s state is left
    alone."""
    example: Any = yaml.safe_load(example_path.read_text())
    workdir = devdir / "bench"
    shutil.rmtree(workdir, ignore_errors=True)
    env = LocalEnvironment(Assets.from_environment(), workdir, crd_paths)
    with env, api_client(env.kubeconfig) as api:
        run = measure(env, api, example, rounds, burst)
    verdicts = judge(run.figures())
    print("\n".join(report(run)))
    print()
    print("\n".join(v.line() for v in verdicts))
    results = {
        "rounds": rounds,
        "burst": run.burst,
        "latencies": run.latencies,
        "bursts": run.bursts,
        "memory": run.memory,
        "figures": run.figures(),
        "missed": [v.target.figure for v in verdicts if not v.met],
    }
    (workdir / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nsamples and figures: {workdir / 'bench.json'}")
    return 0 if all(v.met for v in verdicts) else 1
