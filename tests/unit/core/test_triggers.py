"""The Trigger model: ISO 8601 durations, the backoff, the filter, and reading a Trigger object
(spec against status, readiness per generation, Service refs)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from checkout_core import broker
from checkout_core.api import API_VERSION
from checkout_core.retries import RetryPolicy
from checkout_core.triggers import Delivery, InvalidTrigger, Trigger, resolve, seconds

Body = dict[str, Any]


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("PT0.5S", 0.5),
        ("PT10S", 10.0),
        ("PT2M", 120.0),
        ("PT1H30M", 5400.0),
        ("P1D", 86400.0),
        ("P1DT1H1M1.25S", 86400 + 3600 + 60 + 1.25),
        ("PT0S", 0.0),
    ],
)
def test_iso_durations_in_seconds(duration: str, expected: float) -> None:
    assert seconds(duration, "spec.delivery.timeout") == pytest.approx(expected)


@pytest.mark.parametrize(
    "duration", ["10s", "P", "PT", "P1DT", "PT1.5M", "1S", "PT-1S", "P1W", "pt1s", ""]
)
def test_invalid_durations_name_the_field(duration: str) -> None:
    with pytest.raises(InvalidTrigger, match=r"spec\.delivery\.backoffDelay: .* ISO 8601"):
        seconds(duration, "spec.delivery.backoffDelay")


def test_delivery_defaults_match_the_crd() -> None:
    delivery = Delivery.from_json(None)
    assert (delivery.policy.attempts, delivery.policy.exponential) == (6, True)
    assert (delivery.policy.base, delivery.policy.cap, delivery.timeout) == (0.2, 30.0, 10.0)
    assert delivery.failed_event_type == ""


def test_delivery_from_json() -> None:
    delivery = Delivery.from_json(
        {
            "retry": 2,
            "backoffPolicy": "linear",
            "backoffDelay": "PT0.1S",
            "backoffMax": "PT2S",
            "timeout": "PT3S",
            "failedEventType": "com.example.shop.email.failed",
        }
    )
    assert delivery == Delivery(
        RetryPolicy(attempts=3, exponential=False, base=0.1, cap=2.0),
        timeout=3.0,
        failed_event_type="com.example.shop.email.failed",
    )


def test_unknown_backoff_policy_is_refused() -> None:
    with pytest.raises(InvalidTrigger, match=r"spec\.delivery\.backoffPolicy: 'random'"):
        Delivery.from_json({"backoffPolicy": "random"})


def body(**spec: Any) -> Body:
    return {
        "apiVersion": API_VERSION,
        "kind": "Trigger",
        "metadata": {"namespace": "shop", "name": "rewards", "generation": 2},
        "spec": {
            "broker": "default",
            "filter": {
                "attributes": {"type": "com.example.shop.order.placed", "rewardsmember": "true"}
            },
            "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "rewards-fn"}},
            **spec,
        },
    }


def ready(trigger: Body, generation: int = 2, **status: Any) -> Body:
    out = copy.deepcopy(trigger)
    out["status"] = {
        "observedGeneration": generation,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}],
        **status,
    }
    return out


def test_from_body_reads_spec() -> None:
    trigger = Trigger.from_body(body(delivery={"retry": 1}))
    assert trigger.key == "shop/rewards"
    assert trigger.broker == "default"
    assert trigger.filter == {"type": "com.example.shop.order.placed", "rewardsmember": "true"}
    assert trigger.delivery.attempts == 2
    assert trigger.generation == 2
    assert trigger.dead_letter_uri == ""


def test_subscriber_ref_resolves_to_the_services_address() -> None:
    trigger = Trigger.from_body(body())
    assert trigger.subscriber_uri == "http://rewards-fn.shop.svc.cluster.local/"


def test_status_uris_win_over_spec() -> None:
    trigger = Trigger.from_body(
        ready(
            body(delivery={"deadLetterSink": {"uri": "http://spec-dlq/"}}),
            subscriberUri="http://10.0.0.7:8080/",
            deadLetterSinkUri="http://status-dlq/",
        )
    )
    assert trigger.subscriber_uri == "http://10.0.0.7:8080/"
    assert trigger.dead_letter_uri == "http://status-dlq/"


def test_dead_letter_sink_from_spec_until_resolved() -> None:
    uri = Trigger.from_body(body(delivery={"deadLetterSink": {"uri": "http://dlq.example/"}}))
    assert uri.dead_letter_uri == "http://dlq.example/"
    ref = Trigger.from_body(
        body(delivery={"deadLetterSink": {"ref": {"kind": "Service", "name": "dlq"}}})
    )
    assert ref.dead_letter_uri == "http://dlq.shop.svc.cluster.local/"


def test_ready_only_when_status_is_for_the_current_generation() -> None:
    assert not Trigger.from_body(body()).ready
    assert Trigger.from_body(ready(body(), generation=2)).ready
    assert not Trigger.from_body(ready(body(), generation=1)).ready


def test_not_ready_when_condition_is_not_true() -> None:
    trigger = ready(body())
    trigger["status"]["conditions"][0]["status"] = "False"
    assert not Trigger.from_body(trigger).ready
    trigger["status"]["conditions"] = [{"type": "SubscriberResolved", "status": "True"}]
    assert not Trigger.from_body(trigger).ready


def test_consumer_and_its_subject() -> None:
    trigger = Trigger.from_body(body())
    assert trigger.consumer == "trigger_shop_rewards"
    assert trigger.filter_subject == "shop.events.com.example.shop.order.placed"
    unfiltered = body()
    del unfiltered["spec"]["filter"]
    assert Trigger.from_body(unfiltered).filter_subject == broker.ALL


def test_dotted_trigger_names_get_distinct_valid_consumers() -> None:
    dotted = body()
    dotted["metadata"]["name"] = "email.v2"
    name = Trigger.from_body(dotted).consumer
    assert "." not in name
    assert name != broker.consumer_name("shop", "email-v2")


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"type": "com.example.shop.order.placed", "rewardsmember": "true"}, True),
        ({"type": "com.example.shop.order.placed", "rewardsmember": True}, True),
        ({"type": "com.example.shop.order.placed", "rewardsmember": "false"}, False),
        ({"type": "com.example.shop.order.placed"}, False),
        ({"type": "com.example.shop.email.sent", "rewardsmember": "true"}, False),
    ],
)
def test_matches_every_filter_attribute_exactly(attributes: Body, expected: bool) -> None:
    assert Trigger.from_body(body()).matches(attributes) is expected


def test_an_absent_attribute_does_not_match_a_filter_saying_none() -> None:
    trigger = Trigger.from_body(body(filter={"attributes": {"region": "None"}}))
    assert not trigger.matches({"type": "x"})
    assert trigger.matches({"type": "x", "region": "None"})


def test_no_filter_matches_everything() -> None:
    trigger = Trigger.from_body(body(filter={}))
    assert trigger.matches({"type": "anything"})


def test_resolve_prefers_uri_then_service_ref() -> None:
    assert resolve({"uri": "http://x/"}, "ns", "f") == "http://x/"
    assert (
        resolve({"ref": {"kind": "Service", "name": "s", "namespace": "other"}}, "ns", "f")
        == "http://s.other.svc.cluster.local/"
    )


def test_resolve_refuses_what_it_cannot_address() -> None:
    with pytest.raises(InvalidTrigger, match=r"spec\.subscriber: needs ref or uri"):
        resolve({}, "ns", "spec.subscriber")
    with pytest.raises(InvalidTrigger, match=r"spec\.subscriber\.ref\.kind: only Service"):
        resolve({"ref": {"kind": "Deployment", "name": "d"}}, "ns", "spec.subscriber")


def test_a_trigger_without_subscriber_is_invalid() -> None:
    trigger = body()
    del trigger["spec"]["subscriber"]
    with pytest.raises(InvalidTrigger, match=r"spec\.subscriber"):
        Trigger.from_body(trigger)
