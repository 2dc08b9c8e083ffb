"""`checkout-devenv up|down|status|demo|bench`: the local environment behind `make up`, `make down`,
`make demo` and `make bench`.

`up` starts a supervisor in the background and returns once everything is ready; the supervisor
owns every child process and stops them all on `down` (or dies with them: children get SIGKILL
when it does)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from checkout_devenv import bench, demo
from checkout_devenv.assets import Assets, AssetsError
from checkout_devenv.environment import LocalEnvironment
from checkout_devenv.processes import ProcessError

READY_TIMEOUT = 120.0


def _pidfile(workdir: Path) -> Path:
    return workdir / "devenv.pid"


def _readyfile(workdir: Path) -> Path:
    return workdir / "devenv.ready"


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (dead, not yet reaped) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


def _running_pid(workdir: Path) -> int | None:
    try:
        pid = int(_pidfile(workdir).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def serve(workdir: Path, crd_paths: list[Path]) -> int:
    """Run the environment in the foreground until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _pidfile(workdir).write_text(str(os.getpid()))
    env = LocalEnvironment(Assets.from_environment(), workdir, crd_paths)
    try:
        env.start()
        _readyfile(workdir).write_text(str(env.kubeconfig))
        print(f"ready: KUBECONFIG={env.kubeconfig}", flush=True)
        while not stop.wait(1.0):
            if dead := env.running():
                print(f"stopping: {', '.join(dead)} died; see {workdir / 'logs'}", flush=True)
                return 1
        return 0
    finally:
        env.stop()
        _readyfile(workdir).unlink(missing_ok=True)
        _pidfile(workdir).unlink(missing_ok=True)


def up(workdir: Path, crd_paths: list[Path]) -> int:
    if (pid := _running_pid(workdir)) is not None:
        print(f"already up (supervisor pid {pid}); KUBECONFIG={workdir / 'kubeconfig'}")
        return 0
    Assets.from_environment()  # fail here, in the user's terminal, not in the background log
    workdir.mkdir(parents=True, exist_ok=True)
    _readyfile(workdir).unlink(missing_ok=True)
    log = workdir / "devenv.log"
    argv = [sys.executable, "-m", "checkout_devenv", "serve", "--dir", str(workdir)]
    argv += [arg for path in crd_paths for arg in ("--crds", str(path))]
    with log.open("ab") as out:
        supervisor = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT
    while not _readyfile(workdir).exists():
        if supervisor.poll() is not None or time.monotonic() > deadline:
            if supervisor.poll() is None:
                supervisor.terminate()
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            print(
                f"the local environment did not come up; last lines of {log}:\n{tail}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)
    print(f"up: export KUBECONFIG={workdir / 'kubeconfig'}")
    print(f"    logs in {workdir / 'logs'}, emails in the Maildir {workdir / 'maildir'}")
    return 0


def down(workdir: Path, timeout: float = 30.0) -> int:
    pid = _running_pid(workdir)
    if pid is None:
        print("already down")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # its children die with it (parent-death signal)
            break
        time.sleep(0.2)
    print("down")
    return 0


def status(workdir: Path) -> int:
    pid = _running_pid(workdir)
    if pid is None or not _readyfile(workdir).exists():
        print("down")
        return 1
    print(f"up (supervisor pid {pid}); KUBECONFIG={workdir / 'kubeconfig'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="checkout-devenv",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "status", "serve", "demo", "bench"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(".dev"),
        help="where state, logs and the kubeconfig live (default .dev)",
    )
    parser.add_argument(
        "--crds",
        type=Path,
        action="append",
        default=[],
        help="a CRD file or folder to install (repeatable)",
    )
    parser.add_argument(
        "--example",
        type=Path,
        action="append",
        default=[],
        help="demo: a Checkout manifest to run (repeatable); bench: the first is the model",
    )
    defaults = bench.Bench()
    parser.add_argument(
        "--rounds",
        type=int,
        default=defaults.rounds,
        help="bench: checkouts one at a time, per mode (default %(default)s)",
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=defaults.burst,
        help="bench: checkouts at once, per mode (default %(default)s)",
    )
    parser.add_argument(
        "--stored",
        type=int,
        default=defaults.stored,
        help="bench: Checkouts stored for the operator at size (default %(default)s)",
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="bench: every part tiny, no paced runs (to see that it works; nothing to quote)",
    )
    args = parser.parse_args(argv)
    workdir: Path = args.dir.resolve()
    try:
        if args.command == "up":
            return up(workdir, args.crds)
        if args.command == "down":
            return down(workdir)
        if args.command == "status":
            return status(workdir)
        if args.command == "demo":
            return demo.main(workdir, args.example)
        if args.command == "bench":
            if not args.example or min(args.rounds, args.burst, args.stored) < 1:
                parser.error("bench needs --example, and --rounds, --burst, --stored of 1 or more")
            sizes = (
                bench.Bench.small()
                if args.small
                else bench.Bench(rounds=args.rounds, burst=args.burst, stored=args.stored)
            )
            return bench.main(workdir, args.crds, args.example[0], sizes)
        return serve(workdir, args.crds)
    except (AssetsError, ProcessError) as error:
        print(f"checkout-devenv: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
