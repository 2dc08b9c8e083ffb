"""Checkouts in integration tests: building them, creating them, waiting for them, reading
their steps and the emails they caused."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from kubernetes import client

from checkout_devenv.controlplane import ControlPlane, spent
from checkout_devenv.functions import Functions
from checkout_devenv.operator import OperatorProcess
from tests.builders import checkout as checkout
from tests.builders import order_id as order_id
from tests.integration.objects import CHECKOUT
from tests.waiting import eventually

Body = dict[str, Any]
FAST_RETRIES = {
    "CHECKOUT_ATTEMPTS": "4",
    "CHECKOUT_BACKOFF_BASE": "0.1",
    "CHECKOUT_BACKOFF_CAP": "0.5",
    "CHECKOUT_ATTEMPT_TIMEOUT": "5",
}
"""Operator settings that make a retry budget run out in about a second."""


def create(api: client.ApiClient, namespace: str, body: Body) -> None:
    CHECKOUT.create(api, namespace, body)


get = CHECKOUT.get


def phase(body: Body) -> str | None:
    return cast(str | None, (body.get("status") or {}).get("phase"))


def wait_finished(api: client.ApiClient, namespace: str, name: str, timeout: float = 60.0) -> Body:
    return eventually(
        lambda: get(api, namespace, name),
        f"{name} to finish",
        until=lambda body: phase(body) in ("Succeeded", "Failed"),
        timeout=timeout,
    )


def events_of(
    api: client.ApiClient, namespace: str, name: str, reason: str | None = None
) -> list[client.CoreV1Event]:
    """The Kubernetes Events about the object `name`, of one reason or all."""
    selector = f"involvedObject.name={name}" + (f",reason={reason}" if reason else "")
    found = client.CoreV1Api(api).list_namespaced_event(namespace, field_selector=selector)
    return list(found.items)


def wait_succeeded(kubectl: Any, namespace: str, *names: str, timeout: str = "60s") -> None:
    """`kubectl wait --for=condition=Succeeded` on the Checkouts, as a person would wait."""
    checkouts = [f"chk/{name}" for name in names]
    waited = kubectl(
        "wait", "-n", namespace, "--for=condition=Succeeded", *checkouts, f"--timeout={timeout}"
    )
    assert waited.returncode == 0, waited.stderr


def steps(body: Body) -> dict[str, Body]:
    return {s["name"]: s for s in body["status"]["steps"]}


def emails_for(functions: Functions, order: str) -> list[str]:
    return [str(m["Subject"]) for m in functions.smtp.messages() if order in str(m["Subject"])]


class Operators:
    """Operators started for one test, watching its namespace and calling the given functions
    (`urls` override some of them); all stopped at the end of the test."""

    def __init__(
        self,
        workdir: Path,
        kubeconfig: Path,
        namespace: str,
        functions: Functions,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.functions = functions
        self.env = dict(env or {})
        self.started: list[OperatorProcess] = []

    def start(self, urls: Mapping[str, str] | None = None, **env: str) -> OperatorProcess:
        endpoints = {**self.functions.urls, **(urls or {})}
        environment = {
            **FAST_RETRIES,
            **self.env,
            "CHECKOUT_FUNCTION_URLS": ",".join(f"{k}={v}" for k, v in endpoints.items()),
            **env,
        }
        operator = OperatorProcess(
            self.workdir,
            self.kubeconfig,
            environment,
            namespaces=[self.namespace],
            name=f"operator-{len(self.started)}",
        )
        self.started.append(operator)
        operator.start()
        return operator

    def stop(self) -> None:
        for operator in self.started:
            operator.stop()


BUDGET = 4
"""API writes a successful checkout may cost: the user's create, two status writes, one Event."""
COUNTED = 3


def assert_write_budget(
    api: client.ApiClient,
    namespace: str,
    control_plane: ControlPlane,
    build: Callable[..., Body],
    prefix: str,
) -> None:
    """Carry out COUNTED successful checkouts made by `build(name, order, email, member, prices)`
    and hold what they cost the API server — every resource but the server's own leases — to
    BUDGET each, Kopf's bookkeeping included (there must be none)."""
    names = [f"{prefix}-{n}" for n in range(COUNTED)]
    before = control_plane.writes()
    for name in names:
        create(api, namespace, build(name, order_id(), "ada@example.com", True, ["1.00"]))
    for name in names:
        assert phase(wait_finished(api, namespace, name)) == "Succeeded"
        eventually(functools.partial(events_of, api, namespace, name), f"{name}'s Event")
    made = {k: n for k, n in spent(before, control_plane.writes()).items() if k[0] != "leases"}
    print(f"API writes for {COUNTED} checkouts: {made}")
    assert made.get(("checkouts", "", "POST")) == COUNTED
    assert ("checkouts", "", "PATCH") not in made, f"Kopf's bookkeeping is back: {made}"
    assert made.get(("checkouts", "status", "PATCH"), 0) <= 2 * COUNTED
    assert made.get(("events", "", "POST")) == COUNTED
    assert sum(made.values()) <= BUDGET * COUNTED, made
