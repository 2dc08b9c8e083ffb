"""The local environment `make up` starts: for now the control plane with the project's CRDs
installed. Later parts (broker, functions, operator) join here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from kubernetes import client, config

from checkout_devenv import crds
from checkout_devenv.assets import Assets
from checkout_devenv.controlplane import ControlPlane


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A Kubernetes API client for the given kubeconfig, independent of the process's default."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


class LocalEnvironment:
    """Everything the operator needs around it, as local processes under one folder."""

    def __init__(self, assets: Assets, workdir: Path, crd_paths: Sequence[Path]) -> None:
        self.control_plane = ControlPlane(assets, workdir)
        self.crd_paths = list(crd_paths)

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    def start(self) -> None:
        self.control_plane.start()
        try:
            with api_client(self.kubeconfig) as api:
                crds.install(api, self.crd_paths)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.control_plane.stop()

    def __enter__(self) -> LocalEnvironment:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
