"""The Trigger API on a real API server: what it refuses (with the field named), the defaults it
applies, the status subresource and the printer columns."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from checkout_core.api import TRIGGER_KIND
from checkout_core.retries import RetryPolicy
from checkout_core.triggers import Delivery, Trigger
from tests.builders import resource
from tests.integration.objects import TRIGGER, refusal

Body = dict[str, Any]


def trigger(name: str = "email", **spec: Any) -> Body:
    """A minimal valid Trigger: only what the schema requires."""
    subscriber = {"ref": {"kind": "Service", "name": "checkout-confirmation"}}
    return resource(TRIGGER_KIND, name, **{"broker": "default", "subscriber": subscriber, **spec})


@pytest.mark.parametrize("field", ["backoffDelay", "timeout", "backoffMax"])
@pytest.mark.parametrize("duration", ["10s", "PT", "P1DT"])
def test_bad_durations_are_refused(
    api: client.ApiClient, namespace: str, field: str, duration: str
) -> None:
    body = trigger(delivery={field: duration})
    message = refusal(lambda: TRIGGER.create(api, namespace, body))
    assert f"spec.delivery.{field}" in message
    assert "should match" in message


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        ({"backoffDelay": "PT0.5S"}, Delivery(RetryPolicy(base=0.5))),
        ({"timeout": "P1DT2H"}, Delivery(timeout=86400 + 7200)),
        ({"backoffMax": "PT1M30S"}, Delivery(RetryPolicy(cap=90.0))),
    ],
)
def test_good_durations_are_accepted_and_read_alike(
    api: client.ApiClient, namespace: str, delivery: Body, expected: Delivery
) -> None:
    created = TRIGGER.create(api, namespace, trigger(delivery=delivery))
    assert Trigger.from_body(created).delivery == expected


@pytest.mark.parametrize(
    "subscriber",
    [
        {},
        {
            "ref": {"kind": "Service", "name": "checkout-confirmation"},
            "uri": "http://checkout-confirmation/",
        },
    ],
    ids=["neither", "both"],
)
def test_subscriber_needs_exactly_one_of_ref_and_uri(
    api: client.ApiClient, namespace: str, subscriber: Body
) -> None:
    message = refusal(lambda: TRIGGER.create(api, namespace, trigger(subscriber=subscriber)))
    assert "spec.subscriber must have exactly one of ref and uri" in message


@pytest.mark.parametrize("uri", ["ftp://example.com/", "checkout-confirmation", "/events"])
def test_subscriber_uri_must_be_http(api: client.ApiClient, namespace: str, uri: str) -> None:
    message = refusal(lambda: TRIGGER.create(api, namespace, trigger(subscriber={"uri": uri})))
    assert "spec.subscriber.uri" in message
    assert "must be an absolute http:// or https:// URL" in message


def test_subscriber_ref_must_be_a_service(api: client.ApiClient, namespace: str) -> None:
    body = trigger(subscriber={"ref": {"kind": "Deployment", "name": "x"}})
    message = refusal(lambda: TRIGGER.create(api, namespace, body))
    assert "spec.subscriber.ref.kind: Unsupported value" in message


def test_unknown_backoff_policy_is_refused(api: client.ApiClient, namespace: str) -> None:
    body = trigger(delivery={"backoffPolicy": "random"})
    message = refusal(lambda: TRIGGER.create(api, namespace, body))
    assert "spec.delivery.backoffPolicy: Unsupported value" in message


@pytest.mark.parametrize("name", ["rewardsMember", "a" * 21, "reward-member", ""])
def test_filter_attribute_names_must_be_cloudevents_names(
    api: client.ApiClient, namespace: str, name: str
) -> None:
    body = trigger(filter={"attributes": {name: "true"}})
    message = refusal(lambda: TRIGGER.create(api, namespace, body))
    assert "spec.filter.attributes" in message
    assert "CloudEvents attribute names" in message


def test_negative_retry_is_refused(api: client.ApiClient, namespace: str) -> None:
    message = refusal(lambda: TRIGGER.create(api, namespace, trigger(delivery={"retry": -1})))
    assert "spec.delivery.retry" in message
    assert "should be greater than or equal to 0" in message


def test_dead_letter_sink_needs_exactly_one_of_ref_and_uri(
    api: client.ApiClient, namespace: str
) -> None:
    body = trigger(delivery={"deadLetterSink": {}})
    message = refusal(lambda: TRIGGER.create(api, namespace, body))
    assert "spec.delivery.deadLetterSink must have exactly one of ref and uri" in message


def test_a_valid_trigger_gets_the_defaults(api: client.ApiClient, namespace: str) -> None:
    created = TRIGGER.create(
        api,
        namespace,
        trigger(
            filter={
                "attributes": {"type": "com.example.shop.order.placed", "rewardsmember": "true"}
            }
        ),
    )
    spec = created["spec"]
    assert spec["subscriber"]["ref"]["apiVersion"] == "v1"
    assert "delivery" not in spec or spec["delivery"] == {}
    with_delivery = TRIGGER.create(api, namespace, trigger("rewards", delivery={}))
    assert with_delivery["spec"]["delivery"] == {
        "retry": 5,
        "backoffPolicy": "exponential",
        "backoffDelay": "PT0.2S",
        "backoffMax": "PT30S",
        "timeout": "PT10S",
    }
    # What the API server defaults is what the model assumes when the field is absent.
    assert Trigger.from_body(with_delivery).delivery == Trigger.from_body(created).delivery


def test_status_is_a_subresource(api: client.ApiClient, namespace: str) -> None:
    TRIGGER.create(api, namespace, trigger())
    # A status written with the object is dropped; only the subresource writes it.
    TRIGGER.patch(api, namespace, "email", {"status": {"subscriberUri": "http://x/"}})
    assert "status" not in TRIGGER.get(api, namespace, "email")
    TRIGGER.patch_status(api, namespace, "email", {"status": {"subscriberUri": "http://x/"}})
    assert TRIGGER.get(api, namespace, "email")["status"]["subscriberUri"] == "http://x/"


def test_kubectl_get_shows_the_printer_columns(
    api: client.ApiClient, namespace: str, kubectl: Any
) -> None:
    TRIGGER.create(api, namespace, trigger())
    status = {
        "observedGeneration": 1,
        "subscriberUri": "http://checkout-confirmation.shop.svc.cluster.local/",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ConsumerReady",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    TRIGGER.patch_status(api, namespace, "email", {"status": status})
    result = kubectl("get", "triggers", "-n", namespace)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "BROKER", "SUBSCRIBER", "URI", "READY", "REASON", "AGE"]
    assert row.split()[:5] == [
        "email",
        "default",
        "http://checkout-confirmation.shop.svc.cluster.local/",
        "True",
        "ConsumerReady",
    ]
