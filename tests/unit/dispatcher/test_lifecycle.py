"""What a change to a Trigger object means for its worker."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from checkout_core.triggers import InvalidTrigger, Trigger
from checkout_dispatcher.lifecycle import Action, Listed, gone, key, plan, wanted

Body = dict[str, Any]


def body(name: str = "email", generation: int = 1, ready: bool = True, **spec: Any) -> Body:
    out: Body = {
        "metadata": {"namespace": "shop", "name": name, "generation": generation},
        "spec": {
            "broker": "default",
            "filter": {"attributes": {"type": "com.example.shop.order.placed"}},
            "subscriber": {"uri": "http://confirmation/"},
            **spec,
        },
    }
    if ready:
        out["status"] = {
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    return out


def test_key() -> None:
    assert key(body()) == "shop/email"


def test_wanted_reads_a_ready_trigger() -> None:
    assert wanted(body()).subscriber_uri == "http://confirmation/"


def test_not_ready_is_not_wanted() -> None:
    with pytest.raises(InvalidTrigger, match="not Ready"):
        wanted(body(ready=False))
    stale = body(generation=2)
    stale["status"]["observedGeneration"] = 1
    with pytest.raises(InvalidTrigger, match="not Ready"):
        wanted(stale)


def test_invalid_is_not_wanted() -> None:
    with pytest.raises(InvalidTrigger, match="backoffDelay"):
        wanted(body(delivery={"backoffDelay": "10s"}))
    broken = body()
    del broken["metadata"]["namespace"]
    with pytest.raises(InvalidTrigger, match="unreadable Trigger: KeyError"):
        wanted(broken)


def test_plan() -> None:
    email = Trigger.from_body(body())
    assert plan(None, None) is Action.KEEP
    assert plan(None, email) is Action.START
    assert plan(email, None) is Action.STOP
    assert plan(email, Trigger.from_body(body())) is Action.KEEP


def test_new_generation_restarts() -> None:
    first = Trigger.from_body(body())
    second = Trigger.from_body(body(generation=2, subscriber={"uri": "http://other/"}))
    assert plan(first, second) is Action.RESTART


def test_newly_resolved_subscriber_restarts() -> None:
    before = body()
    after = copy.deepcopy(before)
    after["status"]["subscriberUri"] = "http://10.0.0.9/"
    assert plan(Trigger.from_body(before), Trigger.from_body(after)) is Action.RESTART


def test_labels_alone_keep_the_worker() -> None:
    relabelled = body()
    relabelled["metadata"]["labels"] = {"team": "shop"}
    assert plan(Trigger.from_body(body()), Trigger.from_body(relabelled)) is Action.KEEP


def test_gone_after_a_list_of_one_namespace() -> None:
    running = ["shop/email", "shop/rewards", "other/email"]
    assert gone(running, Listed("shop", [body("email")])) == ["shop/rewards"]
    assert gone(running, Listed(None, [body("email")])) == ["shop/rewards", "other/email"]
    assert gone(running, Listed("shop", [body("email"), body("rewards")])) == []
