"""The kind cluster's configuration for the machine it is made on: `kind-config.yaml` as a user with
internet access runs it, plus what this machine needs on top. Pure: a config in, a config out;
`make kind-up` writes the result to `.dev/kind/cluster.yaml` and creates the cluster from that.

Two things may call for changes, and each change says why:
- **a node image made here** (nothing could be pulled): it carries no kindnet and no CoreDNS that
  could be trusted offline, so the default CNI is off (the image has a static bridge config for the
  pod subnet, kube-router enforces NetworkPolicies) and kubeadm's CoreDNS phase is skipped (its
  Corefile forwards to the host's resolver; ours answers for the cluster only). Its etcd image is
  tagged with the version it holds, which kubeadm is told.
- **a host that cannot grant every capability** (no `--privileged`): runc cannot give the pod
  sandbox the OOM score adjustment the kubelet asks for, so containerd must not try."""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The pod subnet the node image's static bridge config hands out addresses from.
POD_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = "10.96.0.0/16"

RESTRICT_OOM_SCORE_ADJ = """\
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
"""


class KindConfigError(ValueError):
    """The base configuration cannot be adapted; the message names the field."""


@dataclass(frozen=True)
class Host:
    """What the machine the cluster is made on can and cannot do."""

    node_image: str | None = None
    """A node image made locally to use instead of the config's; None keeps the config's."""
    etcd_image_tag: str | None = None
    """The tag of the etcd image the local node image carries (with `node_image`)."""
    unprivileged: bool = False
    """Nodes run without `--privileged` (the host's capability bounding set is short)."""
    cgroup_v1: bool = False
    """The host has cgroup v1, which kubelets from 1.35 on refuse unless told otherwise."""


def for_host(config: dict[str, Any], host: Host) -> dict[str, Any]:
    """`config` (a kind Cluster) with what `host` needs added; `config` itself is left as it is."""
    if config.get("kind") != "Cluster":
        raise KindConfigError(f"kind: expected Cluster, got {config.get('kind')!r}")
    nodes = config.get("nodes") or [{"role": "control-plane"}]
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise KindConfigError("nodes: expected a list of nodes")
    out = copy.deepcopy(config)
    out["nodes"] = copy.deepcopy(nodes)
    kubeadm_patches: list[str] = list(out.get("kubeadmConfigPatches") or [])
    containerd_patches: list[str] = list(out.get("containerdConfigPatches") or [])

    if host.node_image is not None:
        if not host.etcd_image_tag:
            raise KindConfigError("a local node image needs the tag of the etcd image it carries")
        for node in out["nodes"]:
            node["image"] = host.node_image
        networking = dict(out.get("networking") or {})
        pods = networking.setdefault("podSubnet", POD_SUBNET)
        if pods != POD_SUBNET:
            raise KindConfigError(
                f"networking.podSubnet: the local node image's bridge serves {POD_SUBNET}, "
                f"not {pods}"
            )
        networking.setdefault("serviceSubnet", SERVICE_SUBNET)
        networking["disableDefaultCNI"] = True
        out["networking"] = networking
        kubeadm_patches.append(
            _yaml(
                {
                    "kind": "ClusterConfiguration",
                    "etcd": {"local": {"imageTag": host.etcd_image_tag}},
                }
            )
        )
        # kind skips preflight itself; a patch replaces the whole list, so it is kept here.
        kubeadm_patches.append(
            _yaml({"kind": "InitConfiguration", "skipPhases": ["preflight", "addon/coredns"]})
        )
    if host.unprivileged:
        containerd_patches.append(RESTRICT_OOM_SCORE_ADJ)
    if host.cgroup_v1:
        kubeadm_patches.append(_yaml({"kind": "KubeletConfiguration", "failCgroupV1": False}))

    if kubeadm_patches:
        out["kubeadmConfigPatches"] = kubeadm_patches
    if containerd_patches:
        out["containerdConfigPatches"] = containerd_patches
    return out


def describe(config: dict[str, Any]) -> str:
    """What `make kind-up` and `make kind-down` read of the config, as one line of words: the
    cluster's name, its first node's image, and the host port Mailpit's nodePort (30825) is
    mapped to ("-" when none)."""
    nodes = config.get("nodes") or [{}]
    node = nodes[0]
    ports = [
        m["hostPort"]
        for m in node.get("extraPortMappings") or []
        if m.get("containerPort") == 30825
    ]
    return f"{config.get('name', 'kind')} {node.get('image', '-')} {ports[0] if ports else '-'}"


def _yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m checkout_devenv.kindconfig",
        description="Write kind-config.yaml with what this machine needs added, to stdout.",
    )
    parser.add_argument("config", type=Path)
    parser.add_argument("--node-image", help="a node image made here, used instead of the config's")
    parser.add_argument("--etcd-image-tag", help="the etcd tag that node image carries")
    parser.add_argument(
        "--unprivileged", action="store_true", help="nodes run without --privileged"
    )
    parser.add_argument("--cgroup-v1", action="store_true", help="the host has cgroup v1")
    parser.add_argument(
        "--describe", action="store_true", help="print only: name, node image, Mailpit's host port"
    )
    args = parser.parse_args(argv)
    try:
        config = yaml.safe_load(args.config.read_text())
        if not isinstance(config, dict):
            raise KindConfigError("expected a mapping (a kind Cluster)")
        if args.describe:
            print(describe(config))
            return 0
        adapted = for_host(
            config,
            Host(args.node_image, args.etcd_image_tag, args.unprivileged, args.cgroup_v1),
        )
    except (OSError, yaml.YAMLError, KindConfigError) as error:
        print(f"{args.config}: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(
        f"# {args.config} with what this machine needs added (make kind-up writes this)\n"
    )
    sys.stdout.write(yaml.safe_dump(adapted, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
