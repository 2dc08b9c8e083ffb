"""The chart's files that must agree with the rest of the repository, checked without Helm."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.conftest import CRDS, REPO

CHART = REPO / "charts" / "checkout-operator"


def test_the_chart_ships_exactly_the_crds_of_manifests() -> None:
    chart_crds = sorted(p.name for p in (CHART / "crds").iterdir())
    assert chart_crds == sorted(p.name for p in CRDS.glob("*.yaml"))
    for name in chart_crds:
        assert (CHART / "crds" / name).read_bytes() == (CRDS / name).read_bytes(), (
            f"charts/checkout-operator/crds/{name} differs from manifests/crds/{name}: "
            "copy manifests/crds/ over it (manifests/crds is the source)"
        )


def _objects_without_extras(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of object schemas with named properties that still accept unknown keys."""
    found = []
    if schema.get("type") == "object" and "properties" in schema:
        if schema.get("additionalProperties") is not False:
            found.append(path or "(root)")
        for key, sub in schema["properties"].items():
            found += _objects_without_extras(sub, f"{path}.{key}")
    return found


def test_the_values_schema_refuses_unknown_keys_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _objects_without_extras(schema) == []


def _keys(values: dict[str, Any], path: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        keys.add(f"{path}.{key}")
        if isinstance(value, dict) and value:
            keys |= _keys(value, f"{path}.{key}")
    return keys


def _schema_keys(schema: dict[str, Any], path: str = "") -> set[str]:
    keys = set()
    for key, sub in schema.get("properties", {}).items():
        keys.add(f"{path}.{key}")
        keys |= _schema_keys(sub, f"{path}.{key}")
    return keys


def test_every_default_value_is_described_by_the_schema() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    free_form = (".requests", ".limits", ".nodeSelector", ".affinity", ".annotations")
    undeclared = {
        key
        for key in _keys(values) - _schema_keys(schema)
        if not any(part in key for part in free_form)
    }
    assert undeclared == set()


def test_kind_pins_its_node_image_by_digest() -> None:
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    images = [node["image"] for node in config["nodes"]]
    assert images and all("@sha256:" in image for image in images)


def test_kind_maps_the_node_port_that_kind_up_gives_mailpit() -> None:
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    mapped = {m["containerPort"] for n in config["nodes"] for m in n.get("extraPortMappings", [])}
    up = (REPO / "hack/kind/up.sh").read_text()
    assert mapped == {30825}
    assert "mailpit.service.nodePort=30825" in up
