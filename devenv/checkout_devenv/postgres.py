"""A real PostgreSQL server from Debian's packages as a local process: its own data folder, a free
loopback port, trust authentication, TCP only. Works as root (the server then runs as the
`postgres` user, which owns the data folder) and as a normal user."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import weakref
from pathlib import Path

import psycopg

from checkout_devenv.processes import Process, ProcessError, Service, free_port

USER = "checkout"
"""The superuser initdb creates; the functions connect as it."""
DATABASE = "checkout"
SERVICE_ACCOUNT = "postgres"
"""Who runs the server when we are root: PostgreSQL refuses to run as root."""
STARTUP_TIMEOUT = 60.0


def bin_dir() -> Path:
    """Where Debian keeps the server's programs (/usr/lib/postgresql/<major>/bin, the newest
    major), or the folder of `postgres` on PATH elsewhere."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise ProcessError(
        "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres and no postgres on "
        "PATH (Debian: apt-get install postgresql; `make packages` does it)"
    )


class Postgres(Service):
    """Use as a context manager, or start() and stop(). The data folder survives stop() and
    kill(), so a restart finds its data."""

    def __init__(self, workdir: Path, *, durable: bool = True) -> None:
        """`durable=False` turns fsync off: faster tests, data not crash-safe."""
        self.workdir = workdir
        self.durable = durable
        self.port = free_port()
        self.url = f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{DATABASE}"
        self.as_root = os.geteuid() == 0
        self.data = workdir / "postgres"
        self._scratch: Path | None = None
        self._process: Process | None = None

    def start(self) -> None:
        binaries = bin_dir()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            self._prepare_for_service_account()
        if not (self.data / "PG_VERSION").exists():
            self._initdb(binaries)
        argv = [
            str(binaries / "postgres"),
            "-D",
            str(self.data),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            # TCP only: the default socket folder (/var/run/postgresql) is the system server's.
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        if self.as_root:
            # setpriv execs the server in its own place (runuser would fork and wait, and a
            # SIGKILL to it would orphan the server) and re-arms the parent-death signal, which
            # the kernel clears when the user changes.
            argv = [
                "setpriv",
                f"--reuid={SERVICE_ACCOUNT}",
                f"--regid={SERVICE_ACCOUNT}",
                "--init-groups",
                "--pdeathsig=SIGKILL",
                "--",
                *argv,
            ]
        self._process = Process("postgres", argv, self.workdir / "logs" / "postgres.log")
        try:
            self._process.start()
            self._process.wait_ready(self._accepts, STARTUP_TIMEOUT)
            self._create_database()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """A fast shutdown (SIGINT: open sessions are ended, not waited for). Safe to call
        twice."""
        if self._process is not None:
            if self._process.running() and self._process.pid is not None:
                os.kill(self._process.pid, signal.SIGINT)
            self._process.stop()
            self._process = None

    def kill(self) -> None:
        """SIGKILL to the server and its backends at once, as a crash of the machine would."""
        if self._process is not None:
            if self._process.running() and self._process.pid is not None:
                # Process starts each child in a session of its own: its process group is its pid.
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.kill()

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    def _prepare_for_service_account(self) -> None:
        """The data folder must belong to the service account, and it must be able to reach it.
        A folder under a private one (pytest's /tmp/pytest-of-root is 0700) is out of its reach:
        then the data goes into a scratch folder of its own, kept across restarts of this object
        and removed when it is garbage-collected or the interpreter exits."""
        if self._scratch is not None:
            return
        account = pwd.getpwnam(SERVICE_ACCOUNT)
        self.data.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.data, account.pw_uid, account.pw_gid)
        if not self._reachable(self.data):
            self._scratch = Path(tempfile.mkdtemp(prefix="checkout-postgres-"))
            weakref.finalize(self, shutil.rmtree, self._scratch, ignore_errors=True)
            os.chown(self._scratch, account.pw_uid, account.pw_gid)
            self.data = self._scratch / "data"
            self.data.mkdir(mode=0o700)
            os.chown(self.data, account.pw_uid, account.pw_gid)

    def _reachable(self, folder: Path) -> bool:
        check = subprocess.run(
            ["runuser", "-u", SERVICE_ACCOUNT, "--", "test", "-w", str(folder)],
            check=False,
            capture_output=True,
        )
        return check.returncode == 0

    def _initdb(self, binaries: Path) -> None:
        argv = [
            str(binaries / "initdb"),
            f"--pgdata={self.data}",
            f"--username={USER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        if self.as_root:
            argv = ["runuser", "-u", SERVICE_ACCOUNT, "--", *argv]
        log = self.workdir / "logs" / "initdb.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # The service account's working folder must be one it can enter; root's may not be.
            done = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, check=False, cwd="/", timeout=120
            )
        if done.returncode != 0:
            raise ProcessError(
                f"initdb failed with code {done.returncode}; see {log}:\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            )

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={database} connect_timeout=2"

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self._dsn("postgres")):
                return True
        except psycopg.OperationalError:
            return False

    def _create_database(self) -> None:
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')
