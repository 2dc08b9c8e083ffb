"""`helm install --wait` of the chart on a cluster with controllers and a simulated node: every
Deployment and StatefulSet becomes ready, the volumes bind, every pod is admitted under the
restricted Pod Security Standard, an upgrade keeps the database password, and an uninstall
leaves the data and its password behind."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from checkout_devenv.cluster import Cluster
from checkout_devenv.environment import api_client
from tests.integration.conftest import fresh, namespaces, run_helm
from tests.integration.test_chart import CHART, RELEASE


@pytest.fixture(scope="module")
def cluster_api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with api_client(cluster.kubeconfig) as api:
        yield api


@pytest.fixture(scope="module")
def restricted(cluster_api: client.ApiClient) -> Iterator[str]:
    """A namespace where the API server refuses any pod that is not `restricted`."""
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    with namespaces(cluster_api, fresh("shop"), labels=labels) as (name,):
        yield name


def helm_on(cluster: Cluster, helm_binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_helm(helm_binary, cluster.kubeconfig, *args)


def password(api: client.ApiClient, namespace: str) -> str:
    secret = plain(client.CoreV1Api(api).read_namespaced_secret(f"{RELEASE}-postgresql", namespace))
    return base64.b64decode(secret["data"]["password"]).decode()


def plain(obj: object) -> Any:
    """A client model as the API's JSON: plain dicts and lists."""
    return client.ApiClient().sanitize_for_serialization(obj)


def test_install_upgrade_and_uninstall(
    cluster: Cluster, cluster_api: client.ApiClient, helm_binary: Path, restricted: str
) -> None:
    common = [f"--namespace={restricted}", "--wait", "--timeout=5m", "--set", "image.tag=dev"]
    installed = helm_on(cluster, helm_binary, "install", RELEASE, str(CHART), *common)
    assert installed.returncode == 0, installed.stderr
    assert f"helm test {RELEASE} -n {restricted}" in installed.stdout  # the NOTES

    apps, core = client.AppsV1Api(cluster_api), client.CoreV1Api(cluster_api)
    deployments = plain(apps.list_namespaced_deployment(restricted))["items"]
    assert sorted(d["metadata"]["name"].removeprefix(f"{RELEASE}-") for d in deployments) == [
        "confirmation",
        "dispatcher",
        "mailpit",
        "operator",
        "rewards",
        "warehouse",
    ]
    for deployment in deployments:
        assert deployment["status"]["availableReplicas"] == deployment["spec"]["replicas"]
    for statefulset in plain(apps.list_namespaced_stateful_set(restricted))["items"]:
        assert statefulset["status"]["readyReplicas"] == 1
    claims = plain(core.list_namespaced_persistent_volume_claim(restricted))["items"]
    assert [c["status"]["phase"] for c in claims] == ["Bound", "Bound"]
    pods = plain(core.list_namespaced_pod(restricted))["items"]
    assert len(pods) == 9 and all(p["status"]["phase"] == "Running" for p in pods)
    first_password = password(cluster_api, restricted)
    assert len(first_password) == 32 and first_password.isalnum()

    upgraded = helm_on(
        cluster, helm_binary, "upgrade", RELEASE, str(CHART), *common,
        "--set", "dispatcher.replicas=3",
    )  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    dispatcher = plain(apps.read_namespaced_deployment(f"{RELEASE}-dispatcher", restricted))
    assert dispatcher["status"]["availableReplicas"] == 3
    assert password(cluster_api, restricted) == first_password

    removed = helm_on(cluster, helm_binary, "uninstall", RELEASE, f"--namespace={restricted}")
    assert removed.returncode == 0, removed.stderr
    assert apps.list_namespaced_deployment(restricted).items == []
    # the database's volume stays, and so does the password it was made with
    assert password(cluster_api, restricted) == first_password
    assert len(core.list_namespaced_persistent_volume_claim(restricted).items) == 2


def test_a_pod_that_is_not_restricted_is_refused_there(
    cluster_api: client.ApiClient, restricted: str
) -> None:
    """The check above means something: the namespace does refuse a pod running as root."""
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="root"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )
    with pytest.raises(client.exceptions.ApiException) as refused:
        client.CoreV1Api(cluster_api).create_namespaced_pod(restricted, pod)
    assert refused.value.status == 403
    assert "violates PodSecurity" in str(refused.value.body)
