"""The harness itself: the local environment comes up, answers, and leaves no process behind —
after a clean stop, and when whoever started it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from checkout_devenv.assets import Assets
from checkout_devenv.controlplane import ControlPlane
from tests.conftest import CRDS, REPO


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
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if not gone(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


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


def test_devenv_up_status_down(tmp_path: Path, assets: Assets) -> None:
    devenv = [sys.executable, "-m", "checkout_devenv", "--dir", str(tmp_path), "--crds", str(CRDS)]

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*devenv, command], capture_output=True, text=True, timeout=180, cwd=REPO
        )

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
    finally:
        assert run("down").returncode == 0
    assert wait_gone([supervisor, *children]) == []
    assert run("status").returncode == 1
