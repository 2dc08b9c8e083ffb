"""The cluster the chart's tests run on does what a real one does for them: workloads roll out on
the simulated node, claims bind to the pre-made volumes, Jobs finish, ServiceAccount tokens
authenticate and are held to RBAC, and the tools are the pinned versions."""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from checkout_devenv.assets import Assets, tool
from checkout_devenv.cluster import NODE, STORAGE_CLASS, Cluster
from checkout_devenv.environment import api_client
from tests.conftest import REPO
from tests.integration.conftest import fresh, namespaces
from tests.waiting import eventually

T = TypeVar("T")
POD_NETWORK = ipaddress.ip_network("10.244.0.0/24")
"""Where kwok hands out pod IPs (its --cidr)."""
IMAGE = "registry.invalid/checkout/never-pulled:1"
"""kwok runs no container, so the image need not exist anywhere."""


def pinned() -> dict[str, str]:
    lines = (REPO / "hack" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def plain(obj: object) -> Any:
    """A client model as the API's JSON: plain dicts and lists, camelCase keys."""
    return client.ApiClient().sanitize_for_serialization(obj)


def manifest(api_version: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """A Kubernetes object: its kind, its name, and its spec (or rules, or roleRef...)."""
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **fields}


def condition(obj: dict[str, Any], kind: str) -> str | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == kind), None)


def container(name: str) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "ports": [{"containerPort": 8080}]}


@pytest.fixture(scope="module")
def cluster_api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with api_client(cluster.kubeconfig) as api:
        yield api


Create = Callable[[str, dict[str, Any]], None]


@pytest.fixture(scope="module")
def create(cluster_api: client.ApiClient) -> Create:
    """Create an object, given as its manifest, in a namespace."""
    dynamic = DynamicClient(cluster_api)

    def create(namespace: str, body: dict[str, Any]) -> None:
        resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        resource.create(body=body, namespace=namespace)

    return create


@pytest.fixture
def workloads(cluster_api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace on the cluster; deleting it is the namespace controller's job."""
    with namespaces(cluster_api, fresh("w")) as (name,):
        yield name


def test_the_simulated_node_is_ready_and_untainted(cluster_api: client.ApiClient) -> None:
    node = plain(client.CoreV1Api(cluster_api).read_node(NODE))
    assert condition(node, "Ready") == "True"
    assert node["metadata"]["labels"]["type"] == "kwok"
    assert not node["spec"].get("taints")
    allocatable = node["status"]["allocatable"]
    assert (allocatable["cpu"], allocatable["memory"], allocatable["pods"]) == (
        "32",
        "256Gi",
        "110",
    )


def test_a_deployment_rolls_out_behind_its_service_and_is_collected(
    cluster_api: client.ApiClient, create: Create, workloads: str
) -> None:
    apps, core = client.AppsV1Api(cluster_api), client.CoreV1Api(cluster_api)
    discovery = client.DiscoveryV1Api(cluster_api)
    labels = {"app": "web"}
    create(
        workloads,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [container("web")]},
                },
            },
        },
    )
    create(
        workloads,
        manifest(
            "v1",
            "Service",
            "web",
            spec={"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        ),
    )

    deployment = eventually(
        lambda: plain(apps.read_namespaced_deployment("web", workloads)),
        "Deployment web to be Available with 2 replicas",
        until=lambda d: (
            condition(d, "Available") == "True" and d["status"].get("availableReplicas") == 2
        ),
    )
    assert deployment["status"]["readyReplicas"] == 2
    pods = plain(core.list_namespaced_pod(workloads, label_selector="app=web"))["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] == NODE
        assert pod["status"]["phase"] == "Running"
        assert condition(pod, "Ready") == "True"
        assert ipaddress.ip_address(pod["status"]["podIP"]) in POD_NETWORK
    pod_ips = {pod["status"]["podIP"] for pod in pods}

    # The endpointslice controller puts exactly the ready pods behind the Service.
    def addresses() -> set[str]:
        slices = discovery.list_namespaced_endpoint_slice(
            workloads, label_selector="kubernetes.io/service-name=web"
        )
        return {
            address
            for piece in plain(slices)["items"]
            for endpoint in piece.get("endpoints") or []
            if endpoint["conditions"].get("ready")
            for address in endpoint["addresses"]
        }

    eventually(addresses, "the Service's endpoints to be the pods", until=lambda f: f == pod_ips)

    # The garbage collector takes the ReplicaSet and its pods with the Deployment.
    apps.delete_namespaced_deployment("web", workloads, propagation_policy="Background")
    eventually(
        lambda: (
            plain(core.list_namespaced_pod(workloads, label_selector="app=web"))["items"]
            + plain(apps.list_namespaced_replica_set(workloads, label_selector="app=web"))["items"]
        ),
        "the ReplicaSet and pods of the deleted Deployment to be collected",
        until=lambda left: left == [],
    )


def test_a_statefulset_and_a_plain_claim_get_volumes(
    cluster_api: client.ApiClient, create: Create, workloads: str
) -> None:
    apps, core = client.AppsV1Api(cluster_api), client.CoreV1Api(cluster_api)
    labels = {"app": "db"}
    create(
        workloads,
        manifest(
            "v1",
            "Service",
            "db",
            spec={"clusterIP": "None", "selector": labels, "ports": [{"port": 5432}]},
        ),
    )
    # Neither claim names a class: the DefaultStorageClass admission plugin fills in ours.
    claim_spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    create(
        workloads,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                **container("db"),
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            }
                        ]
                    },
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim_spec}],
            },
        },
    )
    create(
        workloads,
        manifest("v1", "PersistentVolumeClaim", "scratch", spec=claim_spec),
    )

    eventually(
        lambda: plain(apps.read_namespaced_stateful_set("db", workloads)),
        "StatefulSet db to have its replica ready",
        until=lambda s: s["status"].get("readyReplicas") == 1,
    )
    pod = plain(core.read_namespaced_pod("db-0", workloads))
    assert (pod["spec"]["nodeName"], pod["status"]["phase"]) == (NODE, "Running")

    def claim(name: str) -> Any:
        return plain(core.read_namespaced_persistent_volume_claim(name, workloads))

    volumes = set()
    for name in ("data-db-0", "scratch"):
        bound = eventually(
            functools.partial(claim, name),
            f"claim {name} to be Bound",
            until=lambda c: c["status"].get("phase") == "Bound",
        )
        assert bound["spec"]["storageClassName"] == STORAGE_CLASS
        volume = plain(core.read_persistent_volume(bound["spec"]["volumeName"]))
        assert volume["status"]["phase"] == "Bound"
        assert (volume["spec"]["claimRef"]["namespace"], volume["spec"]["claimRef"]["name"]) == (
            workloads,
            name,
        )
        volumes.add(volume["metadata"]["name"])
    assert len(volumes) == 2


def test_a_job_runs_to_completion(
    cluster_api: client.ApiClient, create: Create, workloads: str
) -> None:
    batch = client.BatchV1Api(cluster_api)
    create(
        workloads,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "once", "image": IMAGE}],
                    }
                },
            },
        },
    )
    job = eventually(
        lambda: plain(batch.read_namespaced_job("once", workloads)),
        "Job once to complete",
        until=lambda j: condition(j, "Complete") == "True",
    )
    assert job["status"]["succeeded"] == 1
    assert not job["status"].get("failed")


def test_a_service_account_token_is_held_to_rbac(
    cluster: Cluster,
    create: Create,
    assets: Assets,
    workloads: str,
    tmp_path: Path,
) -> None:
    create(
        workloads, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}}
    )
    rbac = "rbac.authorization.k8s.io"
    create(
        workloads,
        manifest(
            f"{rbac}/v1",
            "Role",
            "read-configmaps",
            rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        ),
    )
    create(
        workloads,
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": rbac,
                "kind": "Role",
                "name": "read-configmaps",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": workloads}],
        },
    )
    username = f"system:serviceaccount:{workloads}:reader"

    # The token is the API server's: signed for this account, for as long as was asked.
    token = cluster.token(workloads, "reader", seconds=1200)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == username
    assert claims["exp"] - claims["iat"] == 1200

    # Over plain HTTPS: what the Role grants answers 200, anything else 403.
    server = cluster.control_plane.server
    context = ssl.create_default_context(cafile=str(cluster.control_plane.paths.cert("ca")))

    def status(path: str) -> int:
        request = urllib.request.Request(
            f"{server}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert status(f"/api/v1/namespaces/{workloads}/configmaps") == 200
    assert status(f"/api/v1/namespaces/{workloads}/secrets") == 403
    assert status("/api/v1/namespaces/default/configmaps") == 403
    assert status("/api/v1/nodes") == 403

    # The kubeconfig carries such a token, with the admin kubeconfig's server and CA.
    kubeconfig = cluster.kubeconfig_for(workloads, "reader", tmp_path / "reader.kubeconfig")
    config, admin = (
        yaml.safe_load(kubeconfig.read_text()),
        yaml.safe_load(cluster.kubeconfig.read_text()),
    )
    assert config["clusters"][0]["cluster"] == admin["clusters"][0]["cluster"]
    assert kubeconfig.stat().st_mode & 0o077 == 0

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(assets["kubectl"]), f"--kubeconfig={kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    whoami = kubectl("auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == username
    assert f"system:serviceaccounts:{workloads}" in user["groups"]

    # The controller-manager publishes the cluster's CA into every namespace (--root-ca-file).
    ca = kubectl("-n", workloads, "get", "configmap", "kube-root-ca.crt", "-o", "json")
    assert ca.returncode == 0, ca.stderr
    published = json.loads(ca.stdout)["data"]["ca.crt"]
    assert published == cluster.control_plane.paths.cert("ca").read_text()

    refused = kubectl("-n", workloads, "get", "secrets")
    assert refused.returncode != 0
    assert f'User "{username}" cannot list resource "secrets"' in refused.stderr
    for verb, resource, namespace, answer in [
        ("list", "configmaps", workloads, "yes"),
        ("delete", "configmaps", workloads, "no"),
        ("list", "configmaps", "default", "no"),
        ("get", "secrets", workloads, "no"),
    ]:
        can = kubectl("auth", "can-i", verb, resource, "-n", namespace)
        assert can.stdout.strip() == answer, (verb, resource, namespace, can.stdout, can.stderr)


def test_the_tools_are_the_pinned_versions(tmp_path: Path) -> None:
    versions = pinned()
    helm = subprocess.run(
        [str(tool("helm")), "version", "--template", "{{ .Version }}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert helm.stdout == f"v{versions['HELM_VERSION']}"
    kwok = subprocess.run(
        [str(tool("kwok")), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert kwok.stdout.split()[:3] == ["kwok", "version", f"v{versions['KWOK_VERSION']}"]

    # Without a cluster (`helm template`, `helm lint`) helm assumes the Kubernetes version it was
    # built for; built without its Makefile's flags it would assume 1.20 and lint against that.
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "kube.yaml").write_text(
        "minor: {{ .Capabilities.KubeVersion.Minor | quote }}\n"
    )
    rendered = subprocess.run(
        [str(tool("helm")), "template", str(chart)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    minor = int(yaml.safe_load(rendered.stdout)["minor"])
    assert minor >= int(versions["KUBE_VERSION"].split(".")[1])
