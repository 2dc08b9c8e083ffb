"""The Checkout CRD as a document: every field explained, the contract's defaults and columns."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

from checkout_core.api import CHECKOUT_CRD
from checkout_core.order import CONTROL
from checkout_devenv import crds
from tests.conftest import CRDS

(CRD,) = [c for c in crds.load([CRDS]) if c["metadata"]["name"] == CHECKOUT_CRD]
(VERSION,) = CRD["spec"]["versions"]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]


def fields(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from fields(sub, f"{path}.{name}")
    if "items" in schema:
        yield from fields(schema["items"], f"{path}[]")


def at(path: str) -> dict[str, Any]:
    node: dict[str, Any] = SCHEMA
    for key in path.split("."):
        node = node["properties"][key]
    return node


def test_every_field_has_a_description() -> None:
    # metadata is the API server's own; everything else is ours to explain.
    missing = [p for p, s in fields(SCHEMA) if "description" not in s and p != ".metadata"]
    assert missing == []


@pytest.mark.parametrize(
    ("path", "default"),
    [
        ("spec.mode", "Orchestration"),
        ("spec.order.currency", "USD"),
        ("spec.order.customer.rewardsMember", False),
    ],
)
def test_contract_defaults(path: str, default: object) -> None:
    assert at(path)["default"] == default


def test_printer_columns_follow_the_contract() -> None:
    columns = [(c["name"], c["jsonPath"]) for c in VERSION["additionalPrinterColumns"]]
    assert columns == [
        ("Order", ".spec.order.id"),
        ("Mode", ".spec.mode"),
        ("Phase", ".status.phase"),
        ("Steps", ".status.progress"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def test_the_phase_is_a_selectable_field() -> None:
    # the operator watches `status.phase!=Succeeded,status.phase!=Failed`
    assert VERSION["selectableFields"] == [{"jsonPath": ".status.phase"}]


def test_status_lists_are_maps_keyed_as_the_contract_says() -> None:
    assert at("status.steps")["x-kubernetes-list-map-keys"] == ["name"]
    assert at("status.conditions")["x-kubernetes-list-map-keys"] == ["type"]


def test_mode_and_order_are_immutable() -> None:
    for path in ("spec.mode", "spec.order"):
        (rule,) = at(path)["x-kubernetes-validations"]
        assert rule["rule"] == "self == oldSelf"


NO_CONTROL = '!self.matches(r"[\\p{Cc}\\x{2028}\\x{2029}]")'
"""The CEL rule: no control character (Unicode's Cc) and no Unicode line separator."""
FREE_TEXT = {
    ".spec.order.customer.name",
    ".spec.order.customer.email",
    ".spec.order.items[].sku",
    ".spec.order.shippingAddress.line1",
    ".spec.order.shippingAddress.line2",
    ".spec.order.shippingAddress.city",
    ".spec.order.shippingAddress.region",
    ".spec.order.shippingAddress.postalCode",
}


def test_every_free_text_field_of_the_order_refuses_control_characters_by_name() -> None:
    strings = {
        p: s
        for p, s in fields(SCHEMA)
        if p.startswith(".spec.order.") and s.get("type") == "string"
    }
    guarded = {
        path
        for path, schema in strings.items()
        for rule in schema.get("x-kubernetes-validations", [])
        if rule["rule"] == NO_CONTROL
        and rule["message"]
        == f"{path[1:]} must not contain control characters (line breaks, tabs and the like)"
    }
    assert guarded == FREE_TEXT
    # The rest are held to patterns of letters, digits and the like.
    for path in strings.keys() - FREE_TEXT:
        assert "pattern" in strings[path], path
        assert "\\s" not in strings[path]["pattern"] and "^[^" not in strings[path]["pattern"]


def test_the_order_model_refuses_what_the_crd_refuses() -> None:
    # Order.from_json's CONTROL is the CEL rule's class: Cc (C0, DEL, C1), U+2028 and U+2029.
    for code in range(0x3000):
        character = chr(code)
        refused = unicodedata.category(character) == "Cc" or code in (0x2028, 0x2029)
        assert bool(CONTROL.search(character)) == refused, hex(code)
