"""The local environment `make up` starts, in order: the control plane (with the project's CRDs
installed), the broker (NATS JetStream), a real SMTP server that keeps every message in a Maildir,
the three functions, the operator and the dispatcher — each a local process, under one folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kubernetes import client, config

from checkout_devenv import crds
from checkout_devenv.assets import Assets
from checkout_devenv.broker import NatsServer
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.dispatcher import DispatcherProcess
from checkout_devenv.functions import Functions
from checkout_devenv.operator import OperatorProcess
from checkout_devenv.processes import Service


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A Kubernetes API client for the given kubeconfig, independent of the process's default."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


class LocalEnvironment(Service):
    """Everything, as local processes under `workdir`."""

    def __init__(self, assets: Assets, workdir: Path, crd_paths: Sequence[Path]) -> None:
        self.workdir = workdir
        self.control_plane = ControlPlane(assets, workdir)
        self.crd_paths = list(crd_paths)
        self.broker = NatsServer(workdir)
        self.functions = Functions(workdir)
        urls = ",".join(f"{name}={url}" for name, url in self.functions.urls.items())
        self.operator = OperatorProcess(
            workdir,
            self.control_plane.kubeconfig,
            {
                "CHECKOUT_FUNCTION_URLS": urls,
                "CHECKOUT_NATS_URL": self.broker.url,
                "CHECKOUT_NAMESPACE": "default",
            },
        )
        self.dispatcher = DispatcherProcess(workdir, self.control_plane.kubeconfig, self.broker.url)

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    @property
    def maildir(self) -> Path:
        return self.functions.smtp.maildir

    def start(self) -> None:
        try:
            self.control_plane.start()
            with api_client(self.kubeconfig) as api:
                crds.install(api, self.crd_paths)
            self.broker.start()
            self.functions.start()
            self.operator.start()
            self.dispatcher.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """In reverse order: nothing is left calling a part that is already gone."""
        self.dispatcher.stop()
        self.operator.stop()
        self.functions.stop()
        self.broker.stop()
        self.control_plane.stop()

    def startup_seconds(self) -> dict[str, float]:
        """Seconds each of our parts took from its start to ready (its probe answering), by the
        names running() uses; a part not ready since its last start is left out."""
        parts = {
            "operator": self.operator.process.ready_seconds,
            "dispatcher": self.dispatcher.process.ready_seconds,
            **{name: server.ready_seconds for name, server in self.functions.servers.items()},
        }
        return {name: seconds for name, seconds in parts.items() if seconds is not None}

    def running(self) -> list[str]:
        """Names of the parts that are not running (empty when all are)."""
        parts = {
            "control plane": self.control_plane.running(),
            "smtp": self.functions.smtp.running(),
            "broker": self.broker.running(),
            "operator": self.operator.process.running(),
            "dispatcher": self.dispatcher.running(),
            **{name: server.running() for name, server in self.functions.servers.items()},
        }
        return [name for name, ok in parts.items() if not ok]
