"""Running Checkouts and timing them: fresh copies of an example, created at once, awaited on a
watch until each has finished. Shared by `make demo` and `make bench`."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, watch

from checkout_core.api import CHECKOUTS as PLURAL
from checkout_core.api import GROUP, VERSION

Body = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    body: Body
    seconds: float
    """Wall time from the create call to the watch event that showed the checkout finished."""


def fresh(example: Body, run: str) -> Body:
    body = copy.deepcopy(example)
    body["metadata"] = {"name": f"{example['metadata']['name']}-{run}"}
    body["spec"]["order"]["id"] = f"{example['spec']['order']['id']}-{run}"
    return body


def run_checkouts(
    api: client.ApiClient, namespace: str, bodies: Sequence[Body], timeout: float = 120.0
) -> list[Outcome]:
    """Create the Checkouts at once and wait, on a watch, until each has finished."""
    objects = client.CustomObjectsApi(api)
    listed = cast(
        Body, objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, limit=1)
    )
    version = listed["metadata"]["resourceVersion"]
    started = {}
    for body in bodies:
        started[body["metadata"]["name"]] = time.monotonic()
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    finished: dict[str, Outcome] = {}
    deadline = time.monotonic() + timeout
    stream = watch.Watch()
    while len(finished) < len(bodies):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"not finished after {timeout:.0f}s: {sorted(set(started) - set(finished))}"
            )
        events = stream.stream(
            objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            resource_version=version,
            timeout_seconds=max(1, int(left)),
            _request_timeout=left + 5,
        )
        for event in events:
            body = cast(Body, event["object"])
            version = body["metadata"]["resourceVersion"]
            name = body["metadata"]["name"]
            if name in started and name not in finished and _done(body):
                finished[name] = Outcome(body, time.monotonic() - started[name])
                if len(finished) == len(bodies):
                    stream.stop()
    return [finished[b["metadata"]["name"]] for b in bodies]


def _done(body: Body) -> bool:
    return (body.get("status") or {}).get("phase") in ("Succeeded", "Failed")
