"""Finished Checkouts deleted when their time is up, on the real API server: the expiry loop runs
with a real Checkouts client and a schedule fed the bodies read back from the API, as the watch
would show them; the CRD's field, and the chart's value that sets the operator's default."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from checkout_core.steps import STEPS
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.environment import api_client
from checkout_operator import expiries
from checkout_operator import status as model
from checkout_operator.cluster import Checkouts
from checkout_operator.retention import Schedule
from checkout_operator.settings import Settings
from tests.integration.checkouts import checkout, order_id
from tests.integration.objects import CHECKOUT, refusal
from tests.integration.test_chart import CHART, RELEASE, Helm, Kubectl, objects, template
from tests.waiting import eventually

Body = dict[str, Any]


@contextlib.contextmanager
def expiring(
    schedule: Schedule, checkouts: Checkouts, namespace: str, retry_after: float = 0.1
) -> Iterator[None]:
    """expiries.run for `namespace` on an event loop of its own thread, for the block; it must
    still be running at the end (no error may end it)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(
        expiries.run(schedule, checkouts, [namespace], retry_after=retry_after), loop
    )
    try:
        yield
        assert not running.done(), running.result()
    finally:
        running.cancel()
        concurrent.futures.wait([running], timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def status(finished: bool) -> model.Status:
    """A status as the operator writes it: every step succeeded just now, or one still running."""
    now = datetime.datetime.now(datetime.UTC)
    written = model.initial(STEPS, {"rewardsmember": "true"}, 1, now)
    steps = ("email", "shipment", "rewards") if finished else ("email",)
    for step in steps:
        written = model.apply(written, model.StepUpdate(step, model.Change.SUCCEEDED, now))
    return written


def made(
    api: client.ApiClient, namespace: str, name: str, *, finished: bool = True, **spec: Any
) -> Body:
    """A Checkout created, its status written by Checkouts.write_status, and read back."""
    body = checkout(name, order_id(), "ada@example.com", True, ["1.00"], **spec)
    CHECKOUT.create(api, namespace, body)
    asyncio.run(Checkouts(api).write_status(namespace, name, status(finished)))
    return CHECKOUT.get(api, namespace, name)


def exists(api: client.ApiClient, namespace: str, name: str) -> Body | None:
    try:
        return CHECKOUT.get(api, namespace, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def finished_at(body: Body) -> str:
    """When the Checkout finished, as the deletion's log line says it."""
    (condition,) = body["status"]["conditions"]
    when = datetime.datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00"))
    return when.isoformat()


def deletions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("deleted ")]


def test_a_finished_checkout_goes_when_its_time_is_up_and_no_sooner(
    api: client.ApiClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=expiries.__name__)
    schedule = Schedule(default=None)
    bodies = [
        made(api, namespace, "brief", ttlSecondsAfterFinished=0),
        made(api, namespace, "kept-an-hour", ttlSecondsAfterFinished=3600),
        made(api, namespace, "still-running", finished=False, ttlSecondsAfterFinished=0),
        made(api, namespace, "no-ttl"),  # and no default: kept
    ]
    assert bodies[0]["status"]["phase"] == "Succeeded"
    for body in bodies:
        schedule.watched("ADDED", body)
    assert len(schedule) == 2
    with expiring(schedule, Checkouts(api), namespace):
        eventually(lambda: exists(api, namespace, "brief") is None, "brief to be deleted")
        eventually(lambda: len(schedule) == 1, "brief's entry to be done")
    for name in ("kept-an-hour", "still-running", "no-ttl"):
        assert exists(api, namespace, name) is not None, name
    assert deletions(caplog) == [
        f"deleted Checkout {namespace}/brief: finished at "
        f"{finished_at(bodies[0])}, ttlSecondsAfterFinished 0"
    ]


def test_checkouts_finished_before_it_started_are_found_by_listing_them(
    api: client.ApiClient, namespace: str
) -> None:
    # The operator watches only unfinished Checkouts: these it never sees finish.
    made(api, namespace, "finished-before", ttlSecondsAfterFinished=0)
    made(api, namespace, "running", ttlSecondsAfterFinished=0, finished=False)
    made(api, namespace, "kept", ttlSecondsAfterFinished=3600)
    schedule = Schedule(default=None)
    with expiring(schedule, Checkouts(api), namespace):
        eventually(lambda: exists(api, namespace, "finished-before") is None, "to be deleted")
    assert exists(api, namespace, "running") is not None  # not finished: kept
    assert exists(api, namespace, "kept") is not None
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    assert [e.name for e in schedule.due(far)] == ["kept"]


def test_a_checkout_made_again_under_the_same_name_is_not_deleted_for_the_old_one(
    api: client.ApiClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=expiries.__name__)
    schedule = Schedule(default=None)
    old = made(api, namespace, "again", ttlSecondsAfterFinished=0)
    schedule.watched("ADDED", old)
    # Deleted and made again before the loop got to it, and before the watch told the schedule.
    CHECKOUT.delete(api, namespace, "again")
    eventually(lambda: exists(api, namespace, "again") is None, "the first copy to be gone")
    new = made(api, namespace, "again", ttlSecondsAfterFinished=3600)
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    with expiring(schedule, Checkouts(api), namespace):
        # the stale entry done (its deletion refused: another uid), the new copy listed
        eventually(
            lambda: [e.uid for e in schedule.due(far)] == [new["metadata"]["uid"]],
            "only the new copy to be scheduled",
        )
    survivor = exists(api, namespace, "again")
    assert survivor is not None
    assert survivor["metadata"]["uid"] == new["metadata"]["uid"]
    assert deletions(caplog) == []


def test_the_default_applies_and_a_refused_deletion_is_tried_again(
    api: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=expiries.__name__)
    schedule = Schedule(default=0)
    schedule.watched(None, made(api, namespace, "defaulted"))
    warned = f"could not delete finished Checkout {namespace}/defaulted"

    def refusals() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith(warned)]

    with api_client(control_plane.kubeconfig) as nobody:
        nobody.set_default_header("Impersonate-User", "nobody")  # may not delete anything
        with expiring(schedule, Checkouts(nobody), namespace):
            eventually(refusals, "two refused attempts", until=lambda found: len(found) >= 2)
    assert "HTTP 403 Forbidden" in refusals()[0]
    assert exists(api, namespace, "defaulted") is not None
    assert len(schedule) == 1  # still due, for the next try
    with expiring(schedule, Checkouts(api), namespace):
        eventually(lambda: exists(api, namespace, "defaulted") is None, "defaulted to go")


@pytest.mark.parametrize(
    ("value", "words"),
    [(-1, "greater than or equal to 0"), (31536001, "less than or equal to 31536000")],
)
def test_the_crd_refuses_a_ttl_out_of_range_naming_the_field(
    api: client.ApiClient, namespace: str, value: int, words: str
) -> None:
    body = checkout("bad-ttl", order_id(), "ada@example.com", True, ["1.00"])
    body["spec"]["ttlSecondsAfterFinished"] = value
    message = refusal(lambda: CHECKOUT.create(api, namespace, body))
    assert "spec.ttlSecondsAfterFinished:" in message, message
    assert words in message, message


def test_the_ttl_may_change_after_creation(
    api: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    made(api, namespace, "changing", ttlSecondsAfterFinished=3600)
    patch = {"spec": {"ttlSecondsAfterFinished": 0}}
    changed = CHECKOUT.patch(api, namespace, "changing", patch)
    assert changed["spec"]["ttlSecondsAfterFinished"] == 0
    explained = kubectl("explain", "checkout.spec.ttlSecondsAfterFinished")
    assert explained.returncode == 0, explained.stderr
    assert "Seconds to keep this Checkout once it has finished" in " ".join(
        explained.stdout.split()
    )


def _operator_env(rendered: str) -> dict[str, str]:
    (deployment,) = [
        o
        for o in objects(rendered)
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-operator")
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def test_the_chart_sets_the_operators_default_only_when_given(helm: Helm) -> None:
    variable = "CHECKOUT_TTL_SECONDS_AFTER_FINISHED"
    assert variable not in _operator_env(template(helm, "shop"))
    for given, expected in (("0", 0), ("86400", 86400)):
        rendered = template(helm, "shop", "--set", f"operator.ttlSecondsAfterFinished={given}")
        env = _operator_env(rendered)
        assert env[variable] == given
        assert Settings.from_environment(env).ttl_seconds_after_finished == expected
    refused = helm("template", RELEASE, str(CHART), "--set", "operator.ttlSecondsAfterFinished=-1")
    assert refused.returncode != 0
    assert "/operator/ttlSecondsAfterFinished" in refused.stderr
