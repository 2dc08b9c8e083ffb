"""A cluster without containers: the control plane plus kube-controller-manager, kube-scheduler
and kwok, which plays the kubelet of one simulated node. Deployments roll out, StatefulSets get
their volumes, pods are scheduled and reported Running and Ready — nothing is pulled or run —
so a Helm chart can be installed with `--wait` and its RBAC and admission checked for real."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from checkout_devenv.assets import Assets, tool
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.environment import api_client
from checkout_devenv.processes import Process, Service, free_port

NODE = "kwok-node-0"
STORAGE_CLASS = "standard"
VOLUMES = 12
"""Pre-made PersistentVolumes: there is no provisioner, the PV controller binds claims to these."""


def node() -> dict[str, Any]:
    """The simulated node: kwok manages it because of its annotation; roomy enough for anything
    a test installs."""
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": NODE,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def storage() -> list[dict[str, Any]]:
    """A default StorageClass without a provisioner, and volumes for it to hand out."""
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Retain",
        }
    ]
    for n in range(VOLUMES):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"volume-{n}"},
                "spec": {
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": STORAGE_CLASS,
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": f"/var/lib/kwok-volumes/{n}"},
                },
            }
        )
    return objects


class Cluster(Service):
    """ControlPlane (with ServiceAccount admission) + controller-manager + scheduler + kwok and
    one node. Use as a context manager, or start() and stop()."""

    def __init__(self, assets: Assets, workdir: Path) -> None:
        self.control_plane = ControlPlane(assets, workdir, durable=False, controllers=True)
        self.assets = assets
        self.workdir = workdir
        self._processes: list[Process] = []

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (a client certificate in system:masters)."""
        return self.control_plane.kubeconfig

    def token(self, namespace: str, service_account: str, seconds: int = 3600) -> str:
        """A token of the ServiceAccount from the TokenRequest API."""
        return self.control_plane.token(namespace, service_account, seconds)

    def kubeconfig_for(
        self, namespace: str, service_account: str, path: Path, seconds: int = 3600
    ) -> Path:
        """Write a kubeconfig at `path` that authenticates as the ServiceAccount with such a
        token, so what it may do is exactly what RBAC grants that account."""
        return self.control_plane.service_account_kubeconfig(
            namespace, service_account, path, seconds
        )

    def start(self, timeout: float = 90.0) -> None:
        self.control_plane.start()
        try:
            self._start_controllers()
            with api_client(self.kubeconfig) as api:
                self._wait_for_default_service_account(api, timeout)
                self._apply(api, [node(), *storage()])
                self._wait_for_ready_node(api, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._processes:
            self._processes.pop().stop()
        self.control_plane.stop()

    def _start_controllers(self) -> None:
        pki, logs, config = self.control_plane.paths, self.workdir / "logs", str(self.kubeconfig)

        def controller(binary: str, *flags: str) -> tuple[str, list[str]]:
            """Both controllers: admin credentials, no leader election, loopback serving."""
            return binary, [
                str(self.assets[binary]),
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                *flags,
            ]

        for name, argv in (
            controller(
                "kube-controller-manager",
                f"--service-account-private-key-file={pki.key('service_account')}",
                f"--root-ca-file={pki.cert('ca')}",
                "--use-service-account-credentials=true",
                "--controllers=*",
            ),
            controller("kube-scheduler"),
            (
                "kwok",
                [
                    str(tool("kwok")),
                    f"--kubeconfig={config}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    "--cidr=10.244.0.1/24",
                    "--node-ip=10.244.0.1",
                    "--node-lease-duration-seconds=40",
                    f"--server-address=127.0.0.1:{free_port()}",
                ],
            ),
        ):
            process = Process(name, argv, logs / f"{name}.log")
            self._processes.append(process)
            process.start()

    @staticmethod
    def _apply(api: client.ApiClient, objects: list[dict[str, Any]]) -> None:
        """Server-side apply: a restarted cluster keeps what it had, and converges."""
        dynamic = DynamicClient(api)
        for body in objects:
            resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
            resource.server_side_apply(
                body=body, name=body["metadata"]["name"], field_manager="checkout-devenv"
            )

    def _wait_for_default_service_account(self, api: client.ApiClient, timeout: float) -> None:
        core = client.CoreV1Api(api)

        def ready() -> bool:
            try:
                core.read_namespaced_service_account("default", "default")
            except ApiException:
                return False
            return True

        self._wait(ready, timeout, "the controller-manager to create ServiceAccount default")

    def _wait_for_ready_node(self, api: client.ApiClient, timeout: float) -> None:
        core = client.CoreV1Api(api)

        def ready() -> bool:
            node = core.read_node(NODE)
            conditions = (node.status.conditions if node.status else None) or []
            # The node lifecycle controller lifts its not-ready taint a moment after kwok reports
            # Ready; until then the scheduler places nothing there, so wait for that too.
            taints = node.spec.taints if node.spec else None
            return not taints and any(c.type == "Ready" and c.status == "True" for c in conditions)

        self._wait(ready, timeout, f"node {NODE} to be Ready and untainted")

    def _wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            for process in self._processes:
                if not process.running():
                    raise RuntimeError(f"{process.name} exited:\n{process.log_tail(30)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g}s for {what}")
            time.sleep(0.2)
