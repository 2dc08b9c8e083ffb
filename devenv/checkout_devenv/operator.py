"""The operator as a local process, as it runs in a pod but with a kubeconfig: started, awaited
until its liveness endpoint answers, stopped or killed."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from checkout_devenv.processes import Process, ProcessService, answers_ok, free_port


class OperatorProcess(ProcessService):
    """`checkout-operator` against the cluster of `kubeconfig`, with `env` on top of ours."""

    def __init__(
        self,
        workdir: Path,
        kubeconfig: Path,
        env: Mapping[str, str],
        namespaces: Sequence[str] = (),
        name: str = "operator",
    ) -> None:
        self.liveness = f"http://127.0.0.1:{free_port()}/healthz"
        argv = [sys.executable, "-m", "checkout_operator.main", f"--liveness={self.liveness}"]
        argv += [f"--namespace={ns}" for ns in namespaces]
        environment = {**os.environ, "KUBECONFIG": str(kubeconfig), **env}
        self.process = Process(name, argv, workdir / "logs" / f"{name}.log", env=environment)

    def start(self, timeout: float = 60.0) -> None:
        self.process.start()
        self.process.wait_ready(lambda: answers_ok(self.liveness), timeout)
