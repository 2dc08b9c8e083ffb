"""The Helm chart against the real API server: it lints, its values schema refuses what is
wrong, every combination of its switches renders objects the server accepts, the plain manifests
are what it renders, and its RBAC is enough for the operator and the dispatcher — run as local
processes with their ServiceAccounts' tokens — to carry out a checkout in each mode, and for
nothing more."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.conftest import REPO
from tests.integration.conftest import fresh, namespaces

CHART = REPO / "charts" / "checkout-operator"
RELEASE = "checkout-operator"
Helm = Callable[..., subprocess.CompletedProcess[str]]
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def template(helm: Helm, namespace: str, *args: str) -> str:
    result = helm("template", RELEASE, str(CHART), f"--namespace={namespace}", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def objects(rendered: str) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(rendered) if o]


def test_the_chart_lints_strictly(helm: Helm) -> None:
    result = helm("lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("flag", "complaint"),
    [
        ("operator.attempt=5", "additional properties 'attempt' not allowed"),
        ("dispatcher.replicas=two", "/dispatcher/replicas"),
        ("smtp.security=ssl", "/smtp/security"),
        ("operator.watchNamespaces[0]=Not_A_Namespace", "/operator/watchNamespaces/0"),
        ("functions.warehouseCountries[0]=gbr", "/functions/warehouseCountries/0"),
    ],
)
def test_the_values_schema_names_what_is_wrong(helm: Helm, flag: str, complaint: str) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", flag)
    assert result.returncode != 0
    assert complaint in result.stderr


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["nats.enabled=false"], "nats.externalUrl is required"),
        (["postgresql.enabled=false"], "externalDatabase.existingSecret is required"),
        (["mailpit.enabled=false"], "smtp.host is required"),
        (
            [
                "mailpit.enabled=false",
                "smtp.host=mx",
                "smtp.security=none",
                "smtp.existingSecret=s",
            ],
            "would send the password in clear",
        ),
    ],
)
def test_turning_a_bundled_service_off_asks_for_its_replacement(
    helm: Helm, flags: list[str], complaint: str
) -> None:
    args = [a for flag in flags for a in ("--set", flag)]
    result = helm("template", RELEASE, str(CHART), *args)
    assert result.returncode != 0
    assert complaint in result.stderr


TOGGLES = {
    "defaults": [],
    "external-broker": ["nats.enabled=false", "nats.externalUrl=nats://nats.messaging:4222"],
    "external-database": [
        "postgresql.enabled=false",
        "externalDatabase.existingSecret=shop-database",
    ],
    "existing-database-secret": ["postgresql.existingSecret=shop-database-password"],
    "external-smtp": [
        "mailpit.enabled=false",
        "smtp.host=smtp.example.com",
        "smtp.security=tls",
        "smtp.port=465",
        "smtp.existingSecret=shop-smtp",
    ],
    "mailpit-node-port": ["mailpit.service.type=NodePort", "mailpit.service.nodePort=30825"],
    "no-network-policies": ["networkPolicy.enabled=false"],
    "metrics-peers": ["networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitor"],
    "registry-and-placement": [
        "image.registry=ghcr.io/acme",
        "image.tag=1.2.3",
        "image.pullSecrets[0]=ghcr",
        "dispatcher.replicas=3",
        "functions.nodeSelector.pool=shop",
        "operator.tolerations[0].key=dedicated",
        "operator.tolerations[0].operator=Exists",
    ],
}


@pytest.mark.parametrize("toggle", TOGGLES)
def test_every_switch_renders_objects_the_api_server_accepts(
    helm: Helm, kubectl: Kubectl, api: client.ApiClient, toggle: str
) -> None:
    with namespaces(api, fresh("r"), fresh("w")) as (release_ns, other_ns):
        args = [a for flag in TOGGLES[toggle] for a in ("--set", flag)]
        if toggle == "defaults":
            args = []
        else:  # every other variation also watches a second namespace
            args += ["--set", f"operator.watchNamespaces={{{release_ns},{other_ns}}}"]
        rendered = template(helm, release_ns, *args)
        result = kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
        assert result.returncode == 0, result.stderr
        kinds = [o["kind"] for o in objects(rendered)]
        assert kinds.count("Deployment") >= 5
        assert "created (server dry run)" in result.stdout


def test_the_plain_manifests_are_what_the_chart_renders(helm_binary: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / "hack" / "render-manifests.sh"), str(tmp_path)],
        env={**os.environ, "HELM": str(helm_binary)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml"))
    assert rendered, "nothing rendered"
    for path in rendered:
        committed = REPO / "manifests" / path
        assert committed.exists(), f"manifests/{path} is missing: run `make manifests`"
        assert committed.read_text() == (tmp_path / path).read_text(), (
            f"manifests/{path} is out of date: run `make manifests`"
        )
    rendered_docs = objects((tmp_path / "install" / "checkout-operator.yaml").read_text())
    assert not [d for d in rendered_docs if d["kind"] == "Secret"], "no password in a file"


def test_the_plain_manifests_are_accepted_by_the_api_server(
    kubectl: Kubectl, api: client.ApiClient
) -> None:
    with namespaces(api, "checkout-system"):
        for folder in ("install", "rbac"):
            path = REPO / "manifests" / folder
            result = kubectl("apply", "--dry-run=server", "-f", str(path))
            assert result.returncode == 0, result.stderr
