"""The dispatcher as a local process, as it runs in a pod but with a kubeconfig: started, awaited
until its health endpoint answers, stopped or killed."""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from checkout_devenv.processes import Process, ProcessService, free_port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), bytes(response.read())
    except OSError:
        return 0, b""


class DispatcherProcess(ProcessService):
    """`checkout-dispatcher` against the cluster of `kubeconfig` and the broker at `nats_url`,
    serving the Triggers of `namespaces` (all when empty), with `env` on top of ours (see
    checkout_dispatcher.settings). The port is chosen once, so it stays across restarts."""

    def __init__(
        self,
        workdir: Path,
        kubeconfig: Path,
        nats_url: str,
        env: Mapping[str, str] = {},
        namespaces: Sequence[str] = (),
        name: str = "dispatcher",
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        environment = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "NATS_URL": nats_url,
            "DISPATCHER_NAMESPACES": ",".join(namespaces),
            "DISPATCHER_HOST": "127.0.0.1",
            "DISPATCHER_PORT": str(self.port),
            "DISPATCHER_NAME": name,
            **env,
        }
        self.process = Process(
            name,
            [sys.executable, "-m", "checkout_dispatcher.main"],
            workdir / "logs" / f"{name}.log",
            env=environment,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start, and return once GET /healthz answers 200."""
        self.process.start()
        self.process.wait_ready(lambda: _get(f"{self.url}healthz")[0] == 200, timeout)

    def ready(self) -> bool:
        """Connected to the broker, and every watched namespace's Triggers listed."""
        return _get(f"{self.url}readyz")[0] == 200

    def metrics(self) -> str:
        """The Prometheus exposition; empty when the process does not answer."""
        return _get(f"{self.url}metrics")[1].decode()
