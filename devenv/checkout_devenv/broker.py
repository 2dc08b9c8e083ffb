"""The broker as a local process: Debian's nats-server with JetStream and a file store, on free
loopback ports, its data kept across restarts so that a restart loses nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from checkout_devenv.processes import Process, ProcessService, answers_ok, free_port


class BrokerError(RuntimeError):
    """nats-server is not installed."""


class NatsServer(ProcessService):
    """nats-server -js. The ports are chosen once, so a restarted server is found where it was."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            raise BrokerError("nats-server is not installed: apt-get install nats-server")
        self.port = free_port()
        self.monitor_port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.store = workdir / "nats"
        self.process = Process(
            "nats",
            [
                binary,
                "--jetstream",
                f"--store_dir={self.store}",
                "--addr=127.0.0.1",
                f"--port={self.port}",
                f"--http_port={self.monitor_port}",
                "--server_name=checkout-dev",
            ],
            workdir / "logs" / "nats.log",
        )

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        self.process.wait_ready(lambda: answers_ok(health), timeout)
