"""The three functions as real local processes, each under gunicorn, sharing one database, with
a real SMTP server that keeps every message it receives in a Maildir."""

from __future__ import annotations

import email.policy
import mailbox
import os
import signal
import smtplib
import sys
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from checkout_devenv.processes import Process, Service, answers_ok, free_port

NAMES = ("confirmation", "warehouse", "rewards")
"""The functions, by the step catalogue's `function` field."""
SENDER = "orders@shop.example.com"
STARTUP_TIMEOUT = 30.0


class SmtpCatcher(Service):
    """aiosmtpd with its Mailbox handler: accepts every message, to anyone, into a Maildir. The
    port is chosen once, so a restarted catcher is found where it was."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.maildir = workdir / "maildir"
        self._process = Process(
            "smtp",
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "--nosetuid",
                "--smtputf8",
                "--listen",
                f"{self.host}:{self.port}",
                "--class",
                "aiosmtpd.handlers.Mailbox",
                str(self.maildir),
            ],
            workdir / "logs" / "smtp.log",
        )

    def start(self) -> None:
        # Created here, not by the handler: mailbox.Maildir makes the tree only when the folder
        # is missing, and messages() may be called before the first mail arrives.
        mailbox.Maildir(self.maildir, create=True)
        self._process.start()
        self._process.wait_ready(self._answers, STARTUP_TIMEOUT)

    def stop(self) -> None:
        self._process.stop()

    def running(self) -> bool:
        return self._process.running()

    def _answers(self) -> bool:
        try:
            with smtplib.SMTP(self.host, self.port, local_hostname="localhost", timeout=2) as s:
                return s.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first."""
        return read_maildir(self.maildir)


def read_maildir(maildir: Path) -> list[EmailMessage]:
    """Every message in a Maildir (as SmtpCatcher fills it), oldest first; none if it is not
    there yet."""
    if not maildir.is_dir():
        return []
    box = mailbox.Maildir(maildir, create=False)
    parser = BytesParser(policy=email.policy.default)
    found: list[tuple[float, EmailMessage]] = []
    for key in box.iterkeys():
        parsed = parser.parsebytes(box.get_bytes(key))
        found.append((box.get_message(key).get_date(), parsed))
    return [message for _, message in sorted(found, key=lambda pair: pair[0])]


class FunctionServer:
    """One function under gunicorn: one worker with threads. `env` configures it (SMTP_HOST,
    DATABASE_URL, ...; see checkout_functions.settings) on top of this process's environment.
    The port is chosen once, so the URL stays valid across stop/kill and start."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str]) -> None:
        if name not in NAMES:
            raise ValueError(f"unknown function {name!r}; one of {', '.join(NAMES)}")
        self.name = name
        self.workdir = workdir
        self.env = dict(env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._process = Process(
            name,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:checkout_functions.serving",
                "--bind",
                f"127.0.0.1:{self.port}",
                f'checkout_functions.app:create("{name}")',
            ],
            workdir / "logs" / f"{name}.log",
            env={**os.environ, **self.env},
            cwd=workdir,
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def ready_seconds(self) -> float | None:
        """Seconds from the last launch to GET /healthz answering; None until it has."""
        return self._process.ready_seconds

    def start(self) -> None:
        """Start, and return once GET /healthz answers 200."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start without waiting (see wait_ready), so several servers can boot side by side."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._process.start()

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        self._process.wait_ready(lambda: answers_ok(f"{self.url}healthz"), timeout)

    def stop(self) -> None:
        self._process.stop()

    def kill(self) -> None:
        """SIGKILL to gunicorn and its worker at once, as a crashing container would get. (The
        worker alone would outlive its master for a moment, still serving the port.)"""
        pid = self._process.pid
        if pid is not None and self._process.running():
            # Process starts each child in a session of its own: its process group is its pid.
            os.killpg(pid, signal.SIGKILL)
        self._process.kill()

    def running(self) -> bool:
        return self._process.running()

    def log_tail(self, lines: int = 30) -> str:
        return self._process.log_tail(lines)


class Functions(Service):
    """The SMTP catcher and the three functions, sharing one database: by default a SQLite file
    under `workdir`. Use as a context manager, or start() and stop()."""

    def __init__(self, workdir: Path, database_url: str | None = None) -> None:
        self.workdir = workdir
        self.database_url = database_url or f"sqlite:///{workdir.resolve() / 'functions.db'}"
        self.smtp = SmtpCatcher(workdir)
        env = {
            "SMTP_HOST": self.smtp.host,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_FROM": SENDER,
            "DATABASE_URL": self.database_url,
        }
        self.servers = {name: FunctionServer(name, workdir, env) for name in NAMES}
        self.urls = {name: server.url for name, server in self.servers.items()}

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.smtp.start()
            for server in self.servers.values():
                server.launch()
            for server in self.servers.values():
                server.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Functions first, then the SMTP server they send to. Safe to call twice."""
        for server in self.servers.values():
            server.stop()
        self.smtp.stop()
