"""The harness itself: the local environment comes up, answers, runs the demo and the benchmarks,
and leaves no process behind — after a clean stop, and when whoever started it is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from checkout_devenv.assets import Assets
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.environment import LocalEnvironment
from checkout_devenv.functions import NAMES
from checkout_devenv.targets import TARGETS
from tests.conftest import CRDS, REPO
from tests.waiting import eventually


def gone(pid: int) -> bool:
    """True once the process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def descendants(pid: int) -> list[int]:
    """Live processes below `pid`: children, grandchildren (gunicorn's workers), ..."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z":
            parents[int(proc.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The processes still there once all are gone: none (or the test fails, naming them)."""

    def alive() -> list[int]:
        return [p for p in pids if not gone(p)]

    return eventually(alive, "every process gone", until=lambda left: not left, timeout=timeout)


def test_stop_leaves_no_process(assets: Assets, tmp_path: Path) -> None:
    with ControlPlane(assets, tmp_path, durable=False) as cp:
        pids = cp.pids()
        assert len(pids) == 2
        assert cp.running()
    assert wait_gone(pids) == []


CHILD = """
import sys, time
from pathlib import Path
from checkout_devenv.assets import Assets
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.targets import TARGETS
cp = ControlPlane(Assets.from_environment(), Path(sys.argv[1]), durable=False)
cp.start()
print(" ".join(map(str, cp.pids())), flush=True)
time.sleep(600)
"""


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2 and not any(gone(p) for p in pids)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert wait_gone(pids) == []


EXAMPLES = REPO / "manifests" / "examples"


def devenv(workdir: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`checkout-devenv COMMAND` on the environment in `workdir`, as the Makefile runs it."""
    argv = [sys.executable, "-m", "checkout_devenv", "--dir", str(workdir), "--crds", str(CRDS)]
    return subprocess.run(
        [*argv, command, *args], capture_output=True, text=True, timeout=180, cwd=REPO
    )


def test_devenv_up_demo_status_down(tmp_path: Path, assets: Assets) -> None:
    def run(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return devenv(tmp_path, command, *args)

    assert run("status").returncode == 1
    up = run("up")
    assert up.returncode == 0, up.stderr
    supervisor = int((tmp_path / "devenv.pid").read_text())
    # etcd, kube-apiserver, the SMTP server, three gunicorn masters and their workers, operator
    children = descendants(supervisor)
    assert len(children) >= 9
    try:
        assert "already up" in run("up").stdout
        assert run("status").returncode == 0
        get = subprocess.run(
            [str(assets["kubectl"]), f"--kubeconfig={tmp_path / 'kubeconfig'}", "get", "chk", "-A"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert get.returncode == 0, get.stderr
        assert "No resources found" in get.stderr
        examples = ("checkout-member.yaml", "checkout-choreography.yaml", "checkout-guest.yaml")
        demo = run("demo", *(f"--example={EXAMPLES / name}" for name in examples))
        assert demo.returncode == 0, demo.stdout + demo.stderr
        # side by side: three columns, each finished with all of its steps
        assert demo.stdout.count("Succeeded 3/3 in") == 3, demo.stdout
        assert "Orchestration (Sequential)" in demo.stdout and "Choreography" in demo.stdout
        emails = [line for line in demo.stdout.splitlines() if line.startswith("  to ")]
        assert len(emails) == 3, demo.stdout
    finally:
        assert run("down").returncode == 0
    assert wait_gone([supervisor, *children]) == []
    assert run("status").returncode == 1


def test_the_environment_records_how_long_each_part_took_to_start(
    tmp_path: Path, assets: Assets
) -> None:
    with LocalEnvironment(assets, tmp_path, [CRDS]) as env:
        assert env.running() == []
        startup = env.startup_seconds()
    # How long is the bench's to judge, against its targets; here only that each part was timed.
    assert set(startup) == {"operator", "dispatcher", *NAMES}
    assert all(seconds > 0 for seconds in startup.values()), startup


def test_bench_measures_every_figure_on_an_environment_of_its_own(tmp_path: Path) -> None:
    example = EXAMPLES / "checkout-member.yaml"
    bench = devenv(tmp_path, "bench", f"--example={example}", "--small")
    # Whether the targets are met is for `make bench` to say on a quiet machine, not for a test.
    assert bench.returncode in (0, 1), bench.stdout + bench.stderr
    results = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert {mode: len(s) for mode, s in results["latencies"].items()} == {
        "Orchestration": 2,
        "Choreography": 2,
    }
    assert set(results["limits"]) == {"control plane", "functions"}
    assert {mode: set(runs) for mode, runs in results["loads"].items()} == {
        "Orchestration": {"burst"},
        "Choreography": {"burst"},
    }
    assert results["stored"] >= 40
    figures = results["figures"]
    unpaced = {t.figure for t in TARGETS if not t.figure.startswith("50/s")}
    assert unpaced <= set(figures), unpaced - set(figures)
    assert all(figures[figure] > 0 for figure in unpaced), figures
    # the create, a status write and the checkout's one Event at least
    assert figures["API writes per checkout, Orchestration"] >= 3
    missed = [line for line in bench.stdout.splitlines() if line.startswith("MISS")]
    assert (bench.returncode == 1) == bool(missed), bench.stdout
