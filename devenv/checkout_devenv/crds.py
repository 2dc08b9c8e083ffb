"""Installing the project's CustomResourceDefinitions on a cluster and waiting until the API server
serves them (condition Established)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

FIELD_MANAGER = "checkout-devenv"


def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every CRD document in the given files or folders (folders: their *.yaml files)."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            docs += [
                d
                for d in yaml.safe_load_all(file.read_text())
                if d and d.get("kind") == "CustomResourceDefinition"
            ]
    return docs


def apply(api: client.ApiClient, crds: list[dict[str, Any]]) -> None:
    """Server-side apply, so installing twice, or over an older version, just converges."""
    resource = DynamicClient(api).resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
    )
    for crd in crds:
        resource.server_side_apply(
            body=crd,
            name=crd["metadata"]["name"],
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )


def established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def wait_established(api: client.ApiClient, names: Iterable[str], timeout: float = 30.0) -> None:
    extensions = client.ApiextensionsV1Api(api)
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending:
        for name in sorted(pending):
            crd = extensions.read_custom_resource_definition(name)
            if established(api.sanitize_for_serialization(crd)):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established after {timeout:.0f}s: {sorted(pending)}")
        if pending:
            time.sleep(0.1)


def install(api: client.ApiClient, paths: Iterable[Path], timeout: float = 30.0) -> list[str]:
    """Apply every CRD under `paths` and wait until all are Established; returns their names."""
    crds = load(paths)
    apply(api, crds)
    names = [c["metadata"]["name"] for c in crds]
    wait_established(api, names, timeout)
    return names
