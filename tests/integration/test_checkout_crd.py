"""The Checkout API on a real API server: schema, defaults, CEL rules, status subresource, printer
columns and `kubectl explain`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from checkout_core.api import CHECKOUT_KIND, GROUP, VERSION
from checkout_core.api import CHECKOUTS as PLURAL
from checkout_devenv.controlplane import ControlPlane
from tests.builders import order_with, resource
from tests.conftest import REPO
from tests.integration.objects import CHECKOUT, refusal

Body = dict[str, Any]


def checkout(name: str = "order-1001", **spec: Any) -> Body:
    """A minimal valid Checkout: only what the schema requires."""
    minimal = order_with(currency=None, customer__rewardsMember=None, items__1=None)
    return resource(CHECKOUT_KIND, name, order=minimal, **spec)


def test_crd_is_established_with_the_contract_names(api: client.ApiClient) -> None:
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert crd.status and crd.status.conditions
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    names = crd.spec.names
    assert (names.kind, names.plural, names.short_names) == ("Checkout", "checkouts", ["chk"])
    assert crd.spec.scope == "Namespaced"
    assert [v.name for v in crd.spec.versions] == [VERSION]
    subresources = crd.spec.versions[0].subresources
    assert subresources and subresources.status == {}


def test_api_server_reports_the_pinned_version(control_plane: ControlPlane) -> None:
    pinned = dict(
        line.split("=", 1)
        for line in (REPO / "hack" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert control_plane.version()["gitVersion"] == f"v{pinned['KUBE_VERSION']}"


def test_minimal_checkout_is_accepted_with_defaults(api: client.ApiClient, namespace: str) -> None:
    created = CHECKOUT.create(api, namespace, checkout())
    spec = created["spec"]
    assert spec["mode"] == "Orchestration"
    assert spec["order"]["currency"] == "USD"
    assert spec["order"]["customer"]["rewardsMember"] is False
    assert spec["order"]["items"] == [{"sku": "BOOK-42", "quantity": 2, "unitPrice": "12.50"}]


def test_boundary_values_are_accepted(api: client.ApiClient, namespace: str) -> None:
    body = checkout(mode="Choreography")
    order = body["spec"]["order"]
    order["id"] = "A" * 64
    order["currency"] = "EUR"
    order["customer"]["rewardsMember"] = True
    order["items"] = [
        {"sku": f"SKU-{i}", "quantity": q, "unitPrice": p}
        for i, (q, p) in enumerate(
            [(1, "0"), (1000, "12.5"), (3, "999999999.99")] * 33 + [(1, "1")]
        )
    ]
    assert len(order["items"]) == 100
    created = CHECKOUT.create(api, namespace, body)
    assert created["spec"]["mode"] == "Choreography"
    assert len(created["spec"]["order"]["items"]) == 100


def test_text_in_any_script_is_accepted(api: client.ApiClient, namespace: str) -> None:
    body = checkout()
    order = body["spec"]["order"]
    order["customer"]["name"] = 'Zoë "Z" Ångström-Łukasiewicz, 李雷 \U0001f600'
    order["customer"]["email"] = "zoë@exämple.com"
    order["items"][0]["sku"] = "BÜCHER-42"
    order["shippingAddress"].update(
        line1="Straße 1 ½ — Hinterhaus", line2="c/o Bob", region="Île-de-France"
    )
    created = CHECKOUT.create(api, namespace, body)
    assert created["spec"]["order"]["customer"]["name"].startswith("Zoë")


def test_full_length_text_everywhere_stays_within_the_cel_budget(
    api: client.ApiClient, namespace: str
) -> None:
    # The rules' cost grows with the strings' length and the number of items: the longest order
    # the schema allows is still checked (and accepted) rather than refused as too costly.
    body = checkout()
    order = body["spec"]["order"]
    order["customer"]["name"] = "n" * 200
    order["customer"]["email"] = "e" * 242 + "@example.com"
    order["items"] = [
        {"sku": f"{i:03d}" + "s" * 61, "quantity": 1, "unitPrice": "1"} for i in range(100)
    ]
    order["shippingAddress"].update(
        line1="l" * 200, line2="m" * 200, city="c" * 100, region="r" * 100, postalCode="p" * 20
    )
    created = CHECKOUT.create(api, namespace, body)
    assert len(created["spec"]["order"]["items"]) == 100


def _set(path: str, value: Any) -> Callable[[Body], None]:
    """A mutation of spec.order at a dotted path (list indexes as numbers); DELETE removes."""

    def mutate(body: Body) -> None:
        *parents, last = path.split(".")
        node: Any = body["spec"]
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


DELETE = object()
ITEM = {"sku": "X", "quantity": 1, "unitPrice": "1.00"}

INVALID = {
    # case: (mutation, field the message must name, words the message must contain)
    "missing order id": (_set("order.id", DELETE), "spec.order.id", "Required value"),
    "empty order id": (_set("order.id", ""), "spec.order.id", "at least 1 chars"),
    "order id too long": (_set("order.id", "x" * 65), "spec.order.id", "may not be more than 64"),
    "order id with a slash": (_set("order.id", "10/01"), "spec.order.id", "should match"),
    "bad email": (
        _set("order.customer.email", "ada.example.com"),
        "spec.order.customer.email",
        "should match",
    ),
    "missing customer name": (
        _set("order.customer.name", DELETE),
        "spec.order.customer.name",
        "Required value",
    ),
    "quantity 0": (
        _set("order.items.0.quantity", 0),
        "spec.order.items[0].quantity",
        "greater than or equal to 1",
    ),
    "quantity 1001": (
        _set("order.items.0.quantity", 1001),
        "spec.order.items[0].quantity",
        "less than or equal to 1000",
    ),
    "quantity not a number": (
        _set("order.items.0.quantity", "2"),
        "spec.order.items[0].quantity",
        "must be of type integer",
    ),
    "101 items": (_set("order.items", [ITEM] * 101), "spec.order.items", "at most 100 items"),
    "no items": (_set("order.items", []), "spec.order.items", "at least 1 items"),
    "price 12.345": (
        _set("order.items.0.unitPrice", "12.345"),
        "spec.order.items[0].unitPrice",
        "should match",
    ),
    "price -1": (
        _set("order.items.0.unitPrice", "-1"),
        "spec.order.items[0].unitPrice",
        "should match",
    ),
    "price as a number": (
        _set("order.items.0.unitPrice", 12.5),
        "spec.order.items[0].unitPrice",
        "must be of type string",
    ),
    "missing sku": (_set("order.items.0.sku", DELETE), "spec.order.items[0].sku", "Required value"),
    "currency eur": (_set("order.currency", "eur"), "spec.order.currency", "should match"),
    "country GBR": (
        _set("order.shippingAddress.country", "GBR"),
        "spec.order.shippingAddress.country",
        "should match",
    ),
    "missing city": (
        _set("order.shippingAddress.city", DELETE),
        "spec.order.shippingAddress.city",
        "Required value",
    ),
    "unknown mode": (_set("mode", "Telepathy"), "spec.mode", 'Unsupported value: "Telepathy"'),
    "name with CR LF": (
        _set("order.customer.name", "Ada\r\nBcc: eve@example.com"),
        "spec.order.customer.name",
        "spec.order.customer.name must not contain control characters",
    ),
    "email with a NUL": (
        _set("order.customer.email", "ada@example.com\x00"),
        "spec.order.customer.email",
        "spec.order.customer.email must not contain control characters",
    ),
    "email with a vertical tab": (
        _set("order.customer.email", "ada\x0b@example.com"),
        "spec.order.customer.email",
        "must not contain control characters",
    ),
    "sku with a tab": (
        _set("order.items.0.sku", "BOOK\t42"),
        "spec.order.items[0].sku",
        "spec.order.items[].sku must not contain control characters",
    ),
    "line1 with a line feed": (
        _set("order.shippingAddress.line1", "1 Analytical Way\nFlat 3"),
        "spec.order.shippingAddress.line1",
        "spec.order.shippingAddress.line1 must not contain control characters",
    ),
    "line2 with DEL": (
        _set("order.shippingAddress.line2", "Flat\x7f3"),
        "spec.order.shippingAddress.line2",
        "spec.order.shippingAddress.line2 must not contain control characters",
    ),
    "city with a C1 control": (
        _set("order.shippingAddress.city", "London\x85"),
        "spec.order.shippingAddress.city",
        "spec.order.shippingAddress.city must not contain control characters",
    ),
    "region with a line separator": (
        _set("order.shippingAddress.region", "Greater\u2028London"),
        "spec.order.shippingAddress.region",
        "spec.order.shippingAddress.region must not contain control characters",
    ),
    "postal code with an escape": (
        _set("order.shippingAddress.postalCode", "N1\x1b9GU"),
        "spec.order.shippingAddress.postalCode",
        "spec.order.shippingAddress.postalCode must not contain control characters",
    ),
    "missing order": (_set("order", DELETE), "spec.order", "Required value"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_checkout_is_refused_naming_the_field(
    api: client.ApiClient, namespace: str, case: str
) -> None:
    mutate, field, words = INVALID[case]
    body = copy.deepcopy(checkout())
    mutate(body)
    message = refusal(lambda: CHECKOUT.create(api, namespace, body))
    assert f"{field}:" in message, message
    assert words in message, message


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("spec.mode", {"mode": "Choreography"}),
        ("spec.order", {"order": {"currency": "EUR"}}),
        ("spec.order", {"order": {"items": [{"sku": "BOOK-42", "quantity": 3, "unitPrice": "1"}]}}),
    ],
)
def test_mode_and_order_cannot_change_after_creation(
    api: client.ApiClient, namespace: str, field: str, change: Body
) -> None:
    CHECKOUT.create(api, namespace, checkout())
    message = refusal(lambda: CHECKOUT.patch(api, namespace, "order-1001", {"spec": change}))
    assert f"{field}: Invalid value" in message, message
    assert f"{field} cannot change after creation" in message, message
    unchanged = CHECKOUT.get(api, namespace, "order-1001")
    assert unchanged["metadata"]["generation"] == 1


def test_unknown_fields_are_refused_by_kubectl(namespace: str, kubectl: Any) -> None:
    body = checkout()
    body["spec"]["order"]["coupon"] = "FREE"
    result = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    assert result.returncode != 0
    assert 'unknown field "spec.order.coupon"' in result.stderr


FULL_STATUS: Body = {
    "observedGeneration": 1,
    "phase": "Running",
    "progress": "1/3",
    "startedAt": "2026-01-01T10:00:00Z",
    "steps": [
        {
            "name": "email",
            "phase": "Succeeded",
            "attempts": 1,
            "message": "",
            "startedAt": "2026-01-01T10:00:00Z",
            "completedAt": "2026-01-01T10:00:01Z",
            "output": {"messageId": "<1001@shop.example.com>"},
        },
        {
            "name": "shipment",
            "phase": "Running",
            "attempts": 2,
            "message": "retrying: HTTP 503",
            "startedAt": "2026-01-01T10:00:00Z",
        },
        {"name": "rewards", "phase": "Pending", "attempts": 0, "output": {}},
    ],
    "conditions": [
        {
            "type": "Succeeded",
            "status": "Unknown",
            "reason": "StepsRunning",
            "message": "1 of 3 steps done",
            "observedGeneration": 1,
            "lastTransitionTime": "2026-01-01T10:00:00Z",
        }
    ],
    "kopf": {"dummy": "2026-01-01T10:00:00Z", "progress": {"x": {"retries": 1}}},
}


def test_status_subresource_keeps_every_declared_field(
    api: client.ApiClient, namespace: str
) -> None:
    CHECKOUT.create(api, namespace, checkout())
    # A write to the main resource ignores status...
    CHECKOUT.patch(api, namespace, "order-1001", {"status": {"phase": "Failed"}})
    # ...and a write to /status ignores spec and prunes nothing the operator writes.
    patched = CHECKOUT.patch_status(
        api, namespace, "order-1001", {"status": FULL_STATUS, "spec": {"mode": "Choreography"}}
    )
    assert patched["status"] == FULL_STATUS
    assert patched["spec"]["mode"] == "Orchestration"
    assert patched["metadata"]["generation"] == 1


def test_bad_status_is_refused_too(api: client.ApiClient, namespace: str) -> None:
    CHECKOUT.create(api, namespace, checkout())
    message = refusal(
        lambda: CHECKOUT.patch_status(api, namespace, "order-1001", {"status": {"phase": "Done"}})
    )
    assert "status.phase: Unsupported value" in message


def test_kubectl_get_shows_the_printer_columns(
    api: client.ApiClient, namespace: str, kubectl: Any
) -> None:
    CHECKOUT.create(api, namespace, checkout(mode="Choreography"))
    CHECKOUT.patch_status(api, namespace, "order-1001", {"status": FULL_STATUS})
    result = kubectl("get", "chk", "-n", namespace)
    assert result.returncode == 0, result.stderr
    header, row = (line.split() for line in result.stdout.splitlines())
    assert header == ["NAME", "ORDER", "MODE", "PHASE", "STEPS", "AGE"]
    assert row[:5] == ["order-1001", "1001", "Choreography", "Running", "1/3"]


def test_kubectl_explain_teaches_the_api(api: client.ApiClient, kubectl: Any) -> None:
    result = kubectl("explain", "checkout.spec.order")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "The order as placed by the customer" in text
    for field, words in [
        ("customer", "Who placed the order"),
        ("items", "The lines of the order, 1 to 100"),
        ("currency", "three capital letters"),
        ("shippingAddress", "Where the warehouse sends the parcel"),
    ]:
        assert field in text
        assert words in text
    deeper = kubectl("explain", "checkout.status.steps.phase")
    assert "Skipped" in deeper.stdout
