"""One real control plane (etcd + kube-apiserver, built from source) per test session, with the
project's CRDs installed; each test gets a namespace of its own."""

from __future__ import annotations

import contextlib
import functools
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from checkout_devenv import assets as assets_module
from checkout_devenv import crds
from checkout_devenv.assets import Assets
from checkout_devenv.broker import NatsServer
from checkout_devenv.cluster import Cluster
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.environment import api_client
from checkout_devenv.functions import Functions
from tests.conftest import CRDS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def assets() -> Assets:
    return Assets.from_environment(required=("etcd", "kube-apiserver", "kubectl"))


@pytest.fixture(scope="session")
def control_plane(
    assets: Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    with ControlPlane(assets, tmp_path_factory.mktemp("control-plane"), durable=False) as cp:
        yield cp


@pytest.fixture(scope="session")
def api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    with api_client(control_plane.kubeconfig) as api:
        crds.install(api, [CRDS])
        yield api


def fresh(prefix: str) -> str:
    """A namespace name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def namespaces(
    api: client.ApiClient, *names: str, labels: Mapping[str, str] | None = None
) -> Iterator[tuple[str, ...]]:
    """The namespaces `names`, created for the block and deleted after it."""
    core = client.CoreV1Api(api)
    for name in names:
        meta = client.V1ObjectMeta(name=name, labels=dict(labels or {}))
        core.create_namespace(client.V1Namespace(metadata=meta))
    try:
        yield names
    finally:
        for name in names:
            core.delete_namespace(name)


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    with namespaces(api, fresh("t")) as (name,):
        yield name


@pytest.fixture(scope="session")
def kubectl(assets: Assets, control_plane: ControlPlane):  # type: ignore[no-untyped-def]
    """Run the kubectl built with the control plane (same version) against it."""

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(assets["kubectl"]), f"--kubeconfig={control_plane.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """helm, built from the Go module proxy by `make binaries` into CHECKOUT_TOOLS."""
    return assets_module.tool("helm")


def run_helm(binary: Path, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def helm(helm_binary: Path, control_plane: ControlPlane) -> Callable[..., Any]:
    """Run helm against the session's control plane."""
    return functools.partial(run_helm, helm_binary, control_plane.kubeconfig)


@pytest.fixture(scope="session")
def cluster(assets: Assets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A second control plane, with controllers and a simulated node, for what needs pods."""
    with Cluster(assets, tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """The broker, shared by a module's tests (each keeps to its own namespace's subjects)."""
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Functions]:
    """The three functions with their SMTP server and SQLite database, shared by a module."""
    with Functions(tmp_path_factory.mktemp("functions")) as running:
        yield running
