"""The kind cluster's own add-ons (hack/kind/manifests): cluster DNS that resolves nothing outside
the cluster, kube-router's NetworkPolicy firewall and the default storage, each running only
images that hack/kind/cluster-images.sh builds, so that nothing is ever pulled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

MANIFESTS = REPO / "hack" / "kind" / "manifests"
FILES = ("coredns.yaml", "kube-router.yaml", "default-storage.yaml")
Object = dict[str, Any]


def pinned() -> dict[str, str]:
    lines = (REPO / "hack" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def built_images() -> set[str]:
    """The names cluster-images.sh gives what it builds, from the versions it reads."""
    v = pinned()
    kube = v["KUBE_VERSION"]
    provisioner = v["LOCAL_PATH_PROVISIONER_VERSION"]
    return {
        *(
            f"registry.k8s.io/{name}:v{kube}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        ),
        f"registry.k8s.io/kube-proxy:v{kube}",
        f"registry.k8s.io/etcd:{v['ETCD_VERSION']}",
        f"registry.k8s.io/pause:{v['PAUSE_VERSION']}",
        f"checkout-operator/coredns:v{v['COREDNS_VERSION']}",
        f"checkout-operator/kube-router:v{v['KUBE_ROUTER_VERSION']}",
        f"checkout-operator/local-path-provisioner:v{provisioner}",
        f"checkout-operator/local-path-helper:v{provisioner}",
    }


def load(name: str) -> list[Object]:
    return [doc for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc]


def one(docs: list[Object], kind: str, name: str) -> Object:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def helper_pod() -> Object:
    config = one(load("default-storage.yaml"), "ConfigMap", "local-path-config")
    pod: Object = yaml.safe_load(config["data"]["helperPod.yaml"])
    return pod


def pod_specs() -> Iterator[tuple[str, Object]]:
    """Every pod the three files make run: the workloads' templates and the storage's helper."""
    for name in FILES:
        for doc in load(name):
            if doc["kind"] in ("Deployment", "DaemonSet"):
                yield f"{name}: {doc['metadata']['name']}", doc["spec"]["template"]["spec"]
    yield "default-storage.yaml: helper pod", helper_pod()["spec"]


def containers() -> Iterator[tuple[str, Object]]:
    for where, spec in pod_specs():
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{where}/{container['name']}", container


def corefile() -> str:
    config = one(load("coredns.yaml"), "ConfigMap", "coredns")
    text: str = config["data"]["Corefile"]
    return text


def directives(text: str) -> list[str]:
    """The first word of each line of a Corefile: its server blocks' plugins and their options."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def test_the_corefile_resolves_nothing_outside_the_cluster() -> None:
    words = directives(corefile())
    assert "forward" not in words
    assert "loop" not in words
    assert not {"proxy", "grpc", "etcd", "file", "hosts"} & set(words)


def test_the_corefile_serves_the_cluster_as_kubeadm_s_does() -> None:
    text = corefile()
    assert text.startswith(".:53 {")
    kubernetes = [line.split() for line in text.splitlines() if line.split()[:1] == ["kubernetes"]]
    assert kubernetes == [["kubernetes", "cluster.local", "in-addr.arpa", "ip6.arpa", "{"]]
    for plugin in ("errors", "health", "ready", "cache", "prometheus", "reload", "loadbalance"):
        assert plugin in directives(text), plugin


def test_kube_dns_is_at_the_address_kubelets_hand_out() -> None:
    service = one(load("coredns.yaml"), "Service", "kube-dns")
    assert service["metadata"]["namespace"] == "kube-system"
    assert service["spec"]["clusterIP"] == "10.96.0.10"
    ports = {(p["port"], p["protocol"]) for p in service["spec"]["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (9153, "TCP")}
    deployment = one(load("coredns.yaml"), "Deployment", "coredns")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_coredns_runs_unprivileged_with_kubeadm_s_probes() -> None:
    deployment = one(load("coredns.yaml"), "Deployment", "coredns")
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1
    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert (live["path"], ports[live["port"]]) == ("/health", 8080)
    assert (ready["path"], ports[ready["port"]]) == ("/ready", 8181)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    sysctls = {s["name"]: int(s["value"]) for s in spec["securityContext"]["sysctls"]}
    assert sysctls["net.ipv4.ip_unprivileged_port_start"] <= 53
    tolerated = {t["key"] for t in spec["tolerations"]}
    assert "node-role.kubernetes.io/control-plane" in tolerated
    # The image's user and the pod's agree: a non-root uid CoreDNS's image sets too.
    assert spec["securityContext"]["runAsUser"] == 65532


def test_kube_router_enforces_network_policy_only() -> None:
    daemonset = one(load("kube-router.yaml"), "DaemonSet", "kube-router")
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    (container,) = spec["containers"]
    args = container["args"]
    for flag in ("--run-firewall=true", "--run-router=false", "--run-service-proxy=false"):
        assert flag in args
    assert "--service-cluster-ip-range=10.96.0.0/16" in args
    assert not any(a.startswith("--cleanup-config") for a in args)
    security = container["securityContext"]
    assert not security.get("privileged", False)
    assert {"NET_ADMIN", "NET_RAW"} <= set(security["capabilities"]["add"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/lib/modules"]["readOnly"] is True
    assert "/run/xtables.lock" in mounts
    paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    assert paths[mounts["/run/xtables.lock"]["name"]] == "/run/xtables.lock"


def test_the_default_storage_class_is_local_path_bound_at_first_use() -> None:
    docs = load("default-storage.yaml")
    storage_class = one(docs, "StorageClass", "standard")
    annotations = storage_class["metadata"]["annotations"]
    assert annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["provisioner"] == "rancher.io/local-path"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["reclaimPolicy"] == "Delete"
    assert [d for d in docs if d["kind"] == "StorageClass"] == [storage_class]


def test_volumes_are_folders_every_user_can_write() -> None:
    config = one(load("default-storage.yaml"), "ConfigMap", "local-path-config")
    paths = json.loads(config["data"]["config.json"])["nodePathMap"]
    assert paths == [
        {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["/var/local-path-provisioner"]}
    ]
    setup = config["data"]["setup"].splitlines()
    assert setup[0] == "#!/bin/sh"
    assert 'chmod 0777 "$VOL_DIR"' in setup or 'mkdir -m 0777 -p "$VOL_DIR"' in setup
    assert 'rm -rf "$VOL_DIR"' in config["data"]["teardown"].splitlines()


def test_the_provisioner_names_the_helper_its_helper_pods_run() -> None:
    deployment = one(load("default-storage.yaml"), "Deployment", "local-path-provisioner")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    helper = command[command.index("--helper-image") + 1]
    assert [c["image"] for c in helper_pod()["spec"]["containers"]] == [helper]
    assert command[command.index("--config") + 1] == "/etc/config/config.json"


@pytest.mark.parametrize("name", FILES)
def test_each_workload_s_service_account_exists_and_is_bound(name: str) -> None:
    docs = load(name)
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in docs
        if d["kind"] == "ServiceAccount"
    }
    bound = {
        (s["namespace"], s["name"])
        for d in docs
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for s in d["subjects"]
        if s["kind"] == "ServiceAccount"
    }
    roles = {
        (d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in ("Role", "ClusterRole")
    }
    for d in docs:
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert (d["roleRef"]["kind"], d["roleRef"]["name"]) in roles
    for d in docs:
        if d["kind"] in ("Deployment", "DaemonSet"):
            account = (
                d["metadata"]["namespace"],
                d["spec"]["template"]["spec"]["serviceAccountName"],
            )
            assert account in accounts
            assert account in bound


def test_every_image_is_one_cluster_images_builds() -> None:
    built = built_images()
    used = {container["image"] for _, container in containers()}
    assert used <= built, used - built
    # The add-ons' four: each of them is run by something here.
    assert {i for i in built if i.startswith("checkout-operator/")} == used


@pytest.mark.parametrize("where", [where for where, _ in containers()])
def test_no_container_is_ever_pulled_and_each_requests_resources(where: str) -> None:
    container = dict(containers())[where]
    assert container["imagePullPolicy"] in ("IfNotPresent", "Never")
    requests = container["resources"]["requests"]
    assert requests.get("cpu") and requests.get("memory")
