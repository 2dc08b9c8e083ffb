"""The bench's measuring tools on the real control plane and the real functions: the bare limits
leave the work they claim to have done, `fill` stores finished Checkouts, and the load generator's
watch sees every Checkout finish (patched here by hand, as no operator runs)."""

from __future__ import annotations

import asyncio
import datetime
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
import yaml
from kubernetes import client

from checkout_core.api import CHECKOUTS, GROUP, VERSION
from checkout_devenv import limits, load
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.functions import Functions
from checkout_devenv.processes import cpu_seconds
from checkout_devenv.runs import fresh
from tests.conftest import REPO
from tests.integration.objects import CHECKOUT
from tests.waiting import eventually

Body = dict[str, Any]
EXAMPLE: Body = yaml.safe_load(
    (REPO / "manifests" / "examples" / "checkout-member.yaml").read_text()
)


def listed(
    api: client.ApiClient, group: str, version: str, namespace: str, plural: str
) -> list[Body]:
    found = client.CustomObjectsApi(api).list_namespaced_custom_object(
        group, version, namespace, plural
    )
    return cast(list[Body], cast(Body, found)["items"])


def test_the_control_plane_limit_writes_each_object_and_both_its_status_patches(
    control_plane: ControlPlane, api: client.ApiClient, namespace: str
) -> None:
    before = control_plane.writes()
    rate = asyncio.run(
        limits.control_plane(
            control_plane.kubeconfig, EXAMPLE, 20, namespace=namespace, in_flight=8, keep=True
        )
    )
    assert rate.count == 20 and rate.per_second > 0
    objects = listed(api, limits.GROUP, limits.VERSION, namespace, limits.PLURAL)
    assert len(objects) == 20
    for body in objects:
        status = body["status"]
        assert status["startedAt"], f"the first patch is missing on {body['metadata']['name']}"
        assert status["phase"] == "Succeeded", f"the second patch is missing: {status}"
        assert body["spec"] == EXAMPLE["spec"]
    made = control_plane.writes()
    writes = {key: made[key] - before.get(key, 0) for key in made}
    assert writes[(limits.PLURAL, "", "POST")] == 20
    assert writes[(limits.PLURAL, "status", "PATCH")] == 40

    # Without `keep`, a run deletes what it made, and only that.
    again = asyncio.run(
        limits.control_plane(control_plane.kubeconfig, EXAMPLE, 5, namespace=namespace)
    )
    assert again.count == 5
    assert len(listed(api, limits.GROUP, limits.VERSION, namespace, limits.PLURAL)) == 20


def test_the_functions_direct_limit_gets_every_order_carried_out(functions: Functions) -> None:
    orders = limits.orders(EXAMPLE, 12)
    assert len({order["id"] for order in orders}) == 12
    pids = {name: server.pid for name, server in functions.servers.items()}
    assert all(pids.values())
    cpu = {name: cpu_seconds(cast(int, pid)) for name, pid in pids.items()}
    rate = asyncio.run(limits.functions_direct(functions.urls, orders, in_flight=4))
    assert rate.count == 12 and rate.per_second > 0
    subjects = [str(message["Subject"]) for message in functions.smtp.messages()]
    for order in orders:
        assert sum(order["id"] in subject.split() for subject in subjects) == 1, order["id"]
    # The work shows in the functions' CPU time (master and worker, read from /proc).
    for name, pid in pids.items():
        assert cpu_seconds(cast(int, pid)) > cpu[name], name


def test_the_functions_direct_limit_names_a_function_that_does_not_succeed(
    functions: Functions,
) -> None:
    urls = {**functions.urls, "rewards": f"{functions.urls['rewards']}healthz"}
    with pytest.raises(limits.LimitError, match=r"^rewards answered order .* with HTTP 405"):
        asyncio.run(limits.functions_direct(urls, limits.orders(EXAMPLE, 1)))


def test_fill_stores_checkouts_that_have_succeeded(
    control_plane: ControlPlane, api: client.ApiClient, namespace: str
) -> None:
    bodies = [fresh(EXAMPLE, f"fill-{n}") for n in range(6)]
    rate = asyncio.run(load.fill(control_plane.kubeconfig, namespace, bodies, in_flight=3))
    assert rate.count == 6 and rate.per_second > 0
    stored = listed(api, GROUP, VERSION, namespace, CHECKOUTS)
    assert sorted(b["metadata"]["name"] for b in stored) == sorted(
        b["metadata"]["name"] for b in bodies
    )
    for body in stored:
        assert body["status"]["phase"] == "Succeeded"
        assert body["status"]["conditions"][0]["status"] == "True"


def finish_by_hand(api: client.ApiClient, namespace: str, phases: dict[str, str]) -> None:
    """Stand in for the operator: as soon as each named Checkout exists, patch its status to
    the phase it is given."""
    for name, phase in phases.items():
        body = eventually(
            functools.partial(CHECKOUT.get, api, namespace, name),
            f"{name} to exist",
            tolerate=(client.ApiException,),
            interval=0.02,
        )
        now = datetime.datetime.now(datetime.UTC)
        status = load.finished_status(body["spec"]["order"], now)
        if phase == "Failed":
            status = {"phase": "Failed"}
        CHECKOUT.patch_status(api, namespace, name, {"status": status})


@pytest.mark.parametrize(
    "schedule",
    [load.Paced(rate=4, duration=1), load.Burst(in_flight=2)],
    ids=["paced", "burst"],
)
def test_the_load_generator_sees_each_checkout_finish_on_its_watch(
    control_plane: ControlPlane, api: client.ApiClient, namespace: str, schedule: load.Schedule
) -> None:
    bodies = [fresh(EXAMPLE, f"load-{n}") for n in range(4)]
    names = [b["metadata"]["name"] for b in bodies]
    phases = dict.fromkeys(names, "Succeeded") | {names[2]: "Failed"}
    with ThreadPoolExecutor(1) as pool:
        patched = pool.submit(finish_by_hand, api, namespace, phases)
        result = asyncio.run(
            load.run(control_plane.kubeconfig, namespace, bodies, schedule, timeout=60)
        )
        patched.result(timeout=60)
    assert [r.name for r in result.records] == names
    assert [r.phase for r in result.records] == [phases[name] for name in names]
    assert (result.succeeded, result.failed, result.unfinished, result.not_created) == (3, 1, 0, 0)
    for record in result.records:
        assert record.started is not None and record.finished is not None
        assert record.finished > record.started
    if isinstance(schedule, load.Paced):
        assert [r.due for r in result.records] == load.send_times(4, 4)
        assert all(r.started >= (r.due or 0) for r in result.records if r.started is not None)
    assert result.p50 is not None and result.throughput > 0


def test_the_load_generator_reports_what_did_not_finish_and_what_was_refused(
    control_plane: ControlPlane, namespace: str
) -> None:
    taken = fresh(EXAMPLE, "taken")
    invalid = fresh(EXAMPLE, "invalid")
    invalid["spec"]["order"]["currency"] = "euro"

    def run(bodies: list[Body]) -> load.Result:
        return asyncio.run(
            load.run(control_plane.kubeconfig, namespace, bodies, load.Burst(), timeout=1)
        )

    run([taken])
    result = run([fresh(EXAMPLE, "never"), taken, invalid])
    assert (result.unfinished, result.not_created) == (1, 2)
    assert "409" in result.records[1].error and "422" in result.records[2].error
    assert result.p50 is None and result.throughput == 0.0
