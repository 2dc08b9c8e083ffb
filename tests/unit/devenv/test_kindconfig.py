"""kind-config.yaml adapted to the machine: only what the machine needs is added, and the user's
file is never changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from checkout_devenv.kindconfig import (
    POD_SUBNET,
    Host,
    KindConfigError,
    describe,
    for_host,
    main,
)
from tests.conftest import REPO

LOCAL = Host(node_image="local/node:v1", etcd_image_tag="3.6.16")


def repo_config() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def patches(config: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    documents = [yaml.safe_load(p) for p in config.get("kubeadmConfigPatches", [])]
    return [d for d in documents if d["kind"] == kind]


def test_a_host_that_needs_nothing_gets_the_config_unchanged() -> None:
    assert for_host(repo_config(), Host()) == repo_config()


def test_a_local_node_image_replaces_every_node_image_and_keeps_the_rest() -> None:
    config = repo_config()
    config["nodes"].append({"role": "worker"})
    adapted = for_host(config, LOCAL)
    assert [n["image"] for n in adapted["nodes"]] == ["local/node:v1", "local/node:v1"]
    assert adapted["nodes"][0]["extraPortMappings"] == config["nodes"][0]["extraPortMappings"]
    assert adapted["name"] == config["name"]


def test_a_local_node_image_brings_its_own_network_and_dns() -> None:
    adapted = for_host(repo_config(), LOCAL)
    assert adapted["networking"]["disableDefaultCNI"] is True
    assert adapted["networking"]["podSubnet"] == POD_SUBNET
    (init,) = patches(adapted, "InitConfiguration")
    assert init["skipPhases"] == ["preflight", "addon/coredns"]
    (cluster,) = patches(adapted, "ClusterConfiguration")
    assert cluster["etcd"]["local"]["imageTag"] == "3.6.16"


def test_the_users_config_is_not_changed() -> None:
    config = repo_config()
    before = copy.deepcopy(config)
    for_host(config, Host("local/node:v1", "3.6.16", unprivileged=True, cgroup_v1=True))
    assert config == before


def test_an_unprivileged_host_restricts_the_oom_score_adjustment() -> None:
    adapted = for_host(repo_config(), Host(unprivileged=True))
    assert adapted["containerdConfigPatches"] == [
        '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n'
    ]
    assert "networking" not in adapted


def test_a_cgroup_v1_host_tells_the_kubelet_and_keeps_the_users_patches() -> None:
    config = repo_config()
    config["kubeadmConfigPatches"] = ["kind: KubeletConfiguration\nmaxPods: 50\n"]
    adapted = for_host(config, Host(cgroup_v1=True))
    assert [p.get("maxPods") for p in patches(adapted, "KubeletConfiguration")] == [50, None]
    assert patches(adapted, "KubeletConfiguration")[1]["failCgroupV1"] is False


def test_another_pod_subnet_is_refused_naming_the_field() -> None:
    config = repo_config()
    config["networking"] = {"podSubnet": "192.168.0.0/16"}
    with pytest.raises(KindConfigError, match=r"networking\.podSubnet"):
        for_host(config, LOCAL)


def test_a_local_node_image_without_its_etcd_tag_is_refused() -> None:
    with pytest.raises(KindConfigError, match="etcd"):
        for_host(repo_config(), Host(node_image="local/node:v1"))


def test_not_a_cluster_is_refused_naming_the_kind() -> None:
    with pytest.raises(KindConfigError, match="kind: expected Cluster"):
        for_host({"kind": "Pod"}, Host())


def test_the_command_writes_yaml_and_names_the_file_on_error(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(REPO / "kind-config.yaml"), "--unprivileged", "--cgroup-v1"]) == 0
    written = yaml.safe_load(capsys.readouterr().out)
    assert written["containerdConfigPatches"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\n")
    assert main([str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_describe_names_the_cluster_its_node_image_and_mailpits_host_port() -> None:
    config = repo_config()
    assert describe(config) == f"checkout {config['nodes'][0]['image']} 8025"
    del config["nodes"][0]["extraPortMappings"]
    assert describe(config).endswith(" -")
