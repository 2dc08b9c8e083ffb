"""The chart's RBAC, proven on the real API server: the operator and the dispatcher, run as local
processes with their ServiceAccounts' tokens, carry out a checkout in each mode; `helm test`'s
self-test does its job with its own; and `kubectl auth can-i` shows none of them can do more."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from checkout_devenv.broker import NatsServer
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.dispatcher import DispatcherProcess
from checkout_devenv.functions import Functions
from checkout_devenv.operator import OperatorProcess
from tests.integration.checkouts import FAST_RETRIES, checkout, create, order_id, wait_finished
from tests.integration.conftest import namespaces
from tests.integration.test_chart import RELEASE, Helm, Kubectl, objects, template

OPERATOR = f"{RELEASE}-operator"
DISPATCHER = f"{RELEASE}-dispatcher"
SELFTEST = f"{RELEASE}-test"


@dataclass(frozen=True)
class Release:
    namespace: str
    """Where the chart is installed: the operator's and dispatcher's home, and the Triggers'."""
    other: str
    """A second namespace whose Checkouts the operator carries out."""
    stranger: str
    """A namespace the chart knows nothing of."""


@pytest.fixture(scope="module")
def release(helm: Helm, kubectl: Kubectl, api: client.ApiClient) -> Iterator[Release]:
    """The chart's ServiceAccounts and RBAC, and the self-test's, applied for real."""
    token = uuid.uuid4().hex[:6]
    names = Release(f"shop-{token}", f"shop2-{token}", f"other-{token}")
    watch = ("--set", f"operator.watchNamespaces={{{names.namespace},{names.other}}}")
    rbac = objects(template(helm, names.namespace, *watch, "--show-only=templates/rbac.yaml"))
    hook = objects(
        template(helm, names.namespace, *watch, "--show-only=templates/tests/checkout-test.yaml")
    )
    wanted = rbac + [o for o in hook if o["kind"] != "Pod"]
    with namespaces(api, names.namespace, names.other, names.stranger):
        result = kubectl("apply", "-f", "-", input=yaml.safe_dump_all(wanted))
        assert result.returncode == 0, result.stderr
        yield names
    rbac_api = client.RbacAuthorizationV1Api(api)
    rbac_api.delete_cluster_role_binding(f"{names.namespace}-{OPERATOR}")
    rbac_api.delete_cluster_role(f"{names.namespace}-{OPERATOR}")


def as_service_account(
    control_plane: ControlPlane, release: Release, name: str, folder: Path
) -> Path:
    return control_plane.service_account_kubeconfig(
        release.namespace, name, folder / f"{name}.kubeconfig"
    )


@dataclass
class Serving:
    """The operator and the dispatcher, each running with its own ServiceAccount's token."""

    operator: OperatorProcess
    dispatcher: DispatcherProcess


@pytest.fixture
def serving(
    control_plane: ControlPlane,
    release: Release,
    nats: NatsServer,
    functions: Functions,
    tmp_path: Path,
) -> Iterator[Serving]:
    urls = ",".join(f"{k}={v}" for k, v in functions.urls.items())
    running = Serving(
        OperatorProcess(
            tmp_path,
            as_service_account(control_plane, release, OPERATOR, tmp_path),
            {
                **FAST_RETRIES,
                "CHECKOUT_NAMESPACE": release.namespace,
                "CHECKOUT_NATS_URL": nats.url,
                "CHECKOUT_FUNCTION_URLS": urls,
            },
            namespaces=[release.namespace, release.other],
        ),
        DispatcherProcess(
            tmp_path,
            as_service_account(control_plane, release, DISPATCHER, tmp_path),
            nats.url,
            namespaces=[release.namespace],
        ),
    )
    running.operator.start()
    running.dispatcher.start()
    yield running
    running.operator.stop()
    running.dispatcher.stop()


def test_operator_and_dispatcher_finish_both_modes_with_only_their_own_rights(
    api: client.ApiClient, release: Release, serving: Serving
) -> None:
    placed = {
        (release.namespace, "rbac-orchestration"): "Orchestration",
        (release.other, "rbac-choreography"): "Choreography",
    }
    for (namespace, name), mode in placed.items():
        body = checkout(name, order_id(), "ada@example.com", True, ["3.00"], mode=mode)
        create(api, namespace, body)
    for namespace, name in placed:
        finished = wait_finished(api, namespace, name, timeout=60)
        assert finished["status"]["phase"] == "Succeeded", finished["status"]
    for log in (serving.operator.log_tail(2000), serving.dispatcher.log_tail(2000)):
        assert "Forbidden" not in log, log


def test_the_helm_test_selftest_succeeds_with_its_service_account(
    control_plane: ControlPlane, release: Release, serving: Serving, tmp_path: Path
) -> None:
    selftest = [sys.executable, "-m", "checkout_operator.selftest"]
    result = subprocess.run(
        [*selftest, f"--namespace={release.namespace}", "--timeout=60"],
        env={"KUBECONFIG": str(as_service_account(control_plane, release, SELFTEST, tmp_path))},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("): Succeeded") == 2, result.stdout


CAN = "yes"
CANNOT = "no"
MATRIX = [  # resources as `kubectl auth can-i` takes them
    # the operator: Checkouts where it works, Triggers at home, its own CRD, and nothing else
    (OPERATOR, "watch", "checkouts.shop.example.com", "home", CAN),
    (OPERATOR, "delete", "checkouts.shop.example.com", "other", CAN),
    (OPERATOR, "patch", "checkouts.shop.example.com/status", "home", CAN),
    (OPERATOR, "create", "events", "other", CAN),
    (OPERATOR, "create", "events.events.k8s.io", "other", CAN),
    (OPERATOR, "create", "triggers.shop.example.com", "home", CAN),
    (OPERATOR, "patch", "triggers.shop.example.com/status", "home", CAN),
    (OPERATOR, "get", "customresourcedefinitions/checkouts.shop.example.com", "", CAN),
    (OPERATOR, "get", "secrets", "home", CANNOT),
    (OPERATOR, "list", "secrets", "all", CANNOT),
    (OPERATOR, "get", "checkouts.shop.example.com", "stranger", CANNOT),
    (OPERATOR, "list", "checkouts.shop.example.com", "all", CANNOT),
    (OPERATOR, "create", "checkouts.shop.example.com", "home", CANNOT),
    (OPERATOR, "patch", "checkouts.shop.example.com", "home", CANNOT),
    (OPERATOR, "create", "triggers.shop.example.com", "other", CANNOT),
    (OPERATOR, "patch", "triggers.shop.example.com", "other", CANNOT),
    (OPERATOR, "delete", "triggers.shop.example.com", "home", CANNOT),
    (OPERATOR, "get", "customresourcedefinitions/triggers.shop.example.com", "", CANNOT),
    (OPERATOR, "list", "customresourcedefinitions", "", CANNOT),
    (OPERATOR, "create", "pods", "home", CANNOT),
    (OPERATOR, "get", "configmaps", "home", CANNOT),
    (OPERATOR, "list", "namespaces", "", CANNOT),
    # the dispatcher: reads Triggers at home, and that is all
    (DISPATCHER, "watch", "triggers.shop.example.com", "home", CAN),
    (DISPATCHER, "patch", "triggers.shop.example.com", "home", CANNOT),
    (DISPATCHER, "list", "triggers.shop.example.com", "other", CANNOT),
    (DISPATCHER, "get", "checkouts.shop.example.com", "home", CANNOT),
    (DISPATCHER, "get", "secrets", "home", CANNOT),
    (DISPATCHER, "create", "events", "home", CANNOT),
    # helm test's self-test: Checkouts in the first watched namespace only
    (SELFTEST, "create", "checkouts.shop.example.com", "home", CAN),
    (SELFTEST, "delete", "checkouts.shop.example.com", "home", CAN),
    (SELFTEST, "create", "checkouts.shop.example.com", "other", CANNOT),
    (SELFTEST, "patch", "checkouts.shop.example.com/status", "home", CANNOT),
    (SELFTEST, "get", "secrets", "home", CANNOT),
]


@pytest.mark.parametrize(("account", "verb", "resource", "where", "expected"), MATRIX)
def test_can_i(
    kubectl: Kubectl,
    release: Release,
    account: str,
    verb: str,
    resource: str,
    where: str,
    expected: str,
) -> None:
    namespace = {"home": release.namespace, "other": release.other, "stranger": release.stranger}
    scopes = {"": [], "all": ["--all-namespaces"]}
    scope = scopes[where] if where in scopes else [f"--namespace={namespace[where]}"]
    who = f"--as=system:serviceaccount:{release.namespace}:{account}"
    # `TYPE/status` is a subresource (`kubectl auth can-i` would read `status` as a name)
    kind, _, sub = resource.partition("/")
    target = [kind, f"--subresource={sub}"] if sub == "status" else [resource]
    result = kubectl("auth", "can-i", verb, *target, who, *scope)
    assert result.stdout.strip() == expected, result.stdout + result.stderr
