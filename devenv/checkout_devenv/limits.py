"""The bare limits of this machine, measured beside the product in the same bench run, so that what
the product achieves can be read against what the machine allows at all: how many objects a second
the API server takes through the least a visible checkout needs of it, and how many orders a second
the three functions answer when called directly, with no operator or broker between."""

from __future__ import annotations

import asyncio
import copy
import datetime
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkout_core import answers, binding, delivery, events
from checkout_core.answers import Attempt
from checkout_core.order import Order
from checkout_core.steps import STEPS, Step
from checkout_devenv import crds
from checkout_devenv.environment import api_client
from checkout_devenv.load import Api, Rate, bounded, collection, finished_status, running_status

Body = dict[str, Any]

GROUP = "limits.bench.example.com"
VERSION = "v1"
KIND = "BareCheckout"
PLURAL = "barecheckouts"
CRD = f"{PLURAL}.{GROUP}"
RUN = f"{GROUP}/run"
"""Label: the run that made the object, so a run deletes what it made and nothing else."""
SOURCE = "bench/limits"
"""The namespace the `checkout` attribute of a direct call names; no Checkout is behind it."""


class LimitError(RuntimeError):
    """A function answered a direct call with anything but success."""


def crd() -> Body:
    """A resource no operator watches, with a status subresource and an open spec and status:
    storing one costs the API server no validation beyond the JSON, as bare as it gets."""
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL,
                "singular": PLURAL.removesuffix("s"),
                "kind": KIND,
                "listKind": f"{KIND}List",
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": open_object, "status": open_object},
                        }
                    },
                }
            ],
        },
    }


def install(kubeconfig: Path, timeout: float = 30.0) -> None:
    """Install the bare resource, as the project's CRDs are installed, and wait until it is
    served."""
    with api_client(kubeconfig) as kube:
        crds.apply(kube, [crd()])
        crds.wait_established(kube, [CRD], timeout)


async def control_plane(
    kubeconfig: Path,
    example: Body,
    count: int,
    *,
    namespace: str = "default",
    in_flight: int = 32,
    keep: bool = False,
) -> Rate:
    """Objects a second through what one visible checkout needs at least: a create, then two
    merge patches of its status (started, then finished), `count` objects with at most
    `in_flight` at once. Each object carries the spec of the Checkout `example`, and its status
    patches are a Checkout's, so the bytes are those of the real thing. What the run made is
    deleted afterwards, unless `keep`."""
    await asyncio.to_thread(install, kubeconfig)
    path = collection(GROUP, VERSION, namespace, PLURAL)
    tag = uuid.uuid4().hex[:10]
    order = example["spec"]["order"]

    async def checkout(client: Api, name: str) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name, "labels": {RUN: tag}},
            "spec": example["spec"],
        }
        await client.create(path, body)
        now = datetime.datetime.now(datetime.UTC)
        await client.patch_status(path, name, running_status(order, now))
        finished = finished_status(order, datetime.datetime.now(datetime.UTC))
        # What the second write changes: the start stays as the first one wrote it.
        del finished["startedAt"]
        await client.patch_status(path, name, finished)

    names = [f"bare-{tag}-{i}" for i in range(count)]
    async with Api(kubeconfig, connections=in_flight) as client:
        try:
            began = time.monotonic()
            await bounded(names, in_flight, lambda name: checkout(client, name))
            return Rate(count, time.monotonic() - began)
        finally:
            if not keep:
                await client.delete_collection(path, f"{RUN}={tag}")


def orders(example: Body, count: int, tag: str | None = None) -> list[Body]:
    """`count` copies of the Checkout `example`'s order with ids `<id>-<tag>-<n>`: distinct, so
    each is work the functions have not done before (they are idempotent by order id). `tag`
    defaults to a fresh one."""
    tag = tag or uuid.uuid4().hex[:8]
    made = []
    for n in range(count):
        order = copy.deepcopy(example["spec"]["order"])
        order["id"] = f"{order['id']}-{tag}-{n}"
        made.append(order)
    return made


async def functions_direct(
    urls: Mapping[str, str],
    orders: Sequence[Body],
    *,
    in_flight: int = 8,
    timeout: float = 10.0,
) -> Rate:
    """Orders a second the functions carry out when called as orchestration calls them: each
    order's `order.placed` POSTed, in binary mode, to all three at once, at most `in_flight`
    orders at a time (by default as many as each function has threads). `urls` maps each
    function's name to its URL, as `Functions.urls` does. Raises LimitError, naming the function
    and its answer, on anything but a 2xx answer carrying the function's success event: a
    transient 503 too, since nothing here retries."""
    missing = [step.function for step in STEPS if step.function not in urls]
    if missing:
        raise ValueError(f"no URL for the function(s) {', '.join(missing)}")

    async with delivery.session() as client:

        async def place(order: Body) -> None:
            data = Order.from_json(order)
            event = events.order_placed(
                data.to_json(),
                f"{SOURCE}/{data.id}",
                event_id=f"{SOURCE}/{data.id}",
                rewards_member=data.customer.rewards_member,
            )
            attempts = await asyncio.gather(
                *(delivery.post(client, urls[step.function], event, timeout) for step in STEPS)
            )
            for step, attempt in zip(STEPS, attempts, strict=True):
                _succeeded(step, data.id, attempt)

        began = time.monotonic()
        await bounded(orders, in_flight, place)
        return Rate(len(orders), time.monotonic() - began)


def _succeeded(step: Step, order_id: str, attempt: Attempt) -> None:
    """Raise unless `attempt` is the function's success: a 2xx answer with its success event."""
    said = f"{step.function} answered order {order_id} with"
    if not 200 <= attempt.status < 300 or attempt.error:
        raise LimitError(f"{said} {answers.summary(attempt)}")
    try:
        reply = binding.from_http(attempt.headers, attempt.body)
    except binding.UnacceptableEvent as error:
        raise LimitError(f"{said} HTTP {attempt.status} but no event: {error}") from error
    if reply.get_type() != step.produces:
        raise LimitError(f"{said} {reply.get_type()}: {reply.get_data()!r}")
