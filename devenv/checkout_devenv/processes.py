"""Child processes of the local environment: started with their output in a log file, awaited until
ready, stopped in order, and never left behind — the kernel kills them if their parent dies."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

_PR_SET_PDEATHSIG = 1


class ProcessError(RuntimeError):
    """A child process failed to start, died, or never became ready."""


def answers_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    """Whether GET `url` answers 200 right now: the readiness probe of every HTTP part."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:  # refused, reset, timed out, or an HTTP error status (URLError is an OSError)
        return False


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tree(pid: int, file: str) -> list[str]:
    """/proc/<pid>/<file> of a process and of all its live descendants (gunicorn's master and
    workers, say); nothing for a process that is gone."""
    try:
        found = [Path(f"/proc/{pid}/{file}").read_text()]
        children = " ".join(
            (task / "children").read_text() for task in Path(f"/proc/{pid}/task").iterdir()
        )
    except (FileNotFoundError, ProcessLookupError):
        return []
    return found + [text for child in children.split() for text in _tree(int(child), file)]


def resident_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc; 0 for one that is gone."""
    total = 0
    for status in _tree(pid, "status"):
        line = next((ln for ln in status.splitlines() if ln.startswith("VmRSS:")), "VmRSS: 0")
        total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process and all its live descendants have used so far, from
    /proc; 0 for a process that is gone. A descendant that has exited takes its time with it, so
    the difference of two readings is the work done in between by what ran throughout."""
    ticks = 0
    for stat in _tree(pid, "stat"):
        # The fields after the command name, which is in parentheses and may hold spaces or
        # ")": state is field 3, utime 14 and stime 15, in clock ticks.
        fields = stat.rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. SIGKILL on parent death means no orphan survives a
    # killed test run; a new session keeps the terminal's Ctrl-C away so teardown stays ordered.
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()


class Process:
    """One long-running child process, its log, and how to tell that it is ready."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = env
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._started: float | None = None
        self.ready_seconds: float | None = None
        """Seconds from the last start() to its readiness probe first answering; None until then."""

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.ready_seconds = None
        with self.log.open("ab") as out:
            self._started = time.monotonic()
            self._popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                preexec_fn=_die_with_parent,
            )

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        """Poll `probe` until it is true; fail early, with the log, if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self._popen.returncode if self._popen else None
                raise ProcessError(
                    f"{self.name} exited with code {code} before it was ready; "
                    f"last lines of {self.log}:\n{self.log_tail()}"
                )
            if probe():
                if self._started is not None:
                    self.ready_seconds = time.monotonic() - self._started
                return
            # Often enough that ready_seconds, a start-up of under a second, is measured to 50 ms.
            time.sleep(0.05)
        raise ProcessError(
            f"{self.name} was not ready after {timeout:.0f}s; last lines of {self.log}:\n"
            f"{self.log_tail()}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds. Safe to call twice."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        self._popen = None

    def kill(self) -> None:
        """SIGKILL, as a crash would; for tests of recovery."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()


class Service:
    """Something started and stopped as a whole; `with` stops it whatever happens inside."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ProcessService(Service):
    """A Service that is one Process: stopped, killed and asked after through it."""

    process: Process

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash (or a pod's OOM kill) would get."""
        self.process.kill()

    def running(self) -> bool:
        return self.process.running()

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)
