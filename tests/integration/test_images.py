"""The images, built here on the locally made Debian base (no pulls) and started as the chart runs
them: a read-only root filesystem with /tmp the only writable place, every capability dropped, no
privilege escalation. Each must run as its non-root user and answer on its health endpoint, and
together — operator, dispatcher and the three functions, all containers, with PostgreSQL, NATS and
an SMTP server — they must carry out a checkout in each mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from checkout_devenv.broker import NatsServer
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.functions import SmtpCatcher
from checkout_devenv.postgres import Postgres
from checkout_devenv.processes import free_port
from tests.conftest import REPO
from tests.integration.checkouts import checkout, create, order_id, wait_finished

DOCKER = os.environ.get("DOCKER", "docker")
BASE = os.environ.get("CHECKOUT_BASE_IMAGE", "checkout-operator/base:bookworm")
TARGETS = ("operator", "dispatcher", "functions")
USER = "10001:10001"
RESTRICTED = [
    "--read-only",
    "--tmpfs=/tmp",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--network=host",
]


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """The three targets of the Dockerfile, built on the local base."""
    if docker("image", "inspect", BASE).returncode != 0:
        raise RuntimeError(f"no base image {BASE}: run `make base-image` (or `make test`)")
    tag = "test"  # one tag, so each run replaces the last run's images
    built = {}
    for target in TARGETS:
        name = f"checkout-operator/{target}:{tag}"
        result = docker(
            "build", "--quiet", f"--build-arg=BASE_IMAGE={BASE}", f"--target={target}",
            f"--tag={name}", str(REPO), timeout=900,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        built[target] = name
    return built


@pytest.fixture
def readable_kubeconfig(control_plane: ControlPlane, tmp_path: Path) -> Path:
    """The admin kubeconfig, readable by the containers' user (the original is the owner's)."""
    copy = tmp_path / "kubeconfig"
    shutil.copy(control_plane.kubeconfig, copy)
    copy.chmod(0o644)
    return copy


class Container:
    """One container started in the restricted way; removed when the test ends."""

    def __init__(self, image: str, *args: str, env: dict[str, str], mounts: list[str]) -> None:
        self.name = f"checkout-test-{uuid.uuid4().hex[:8]}"
        flags = [f"--env={k}={v}" for k, v in env.items()]
        flags += [f"--volume={m}" for m in mounts]
        result = docker("run", "--detach", f"--name={self.name}", *RESTRICTED, *flags, image, *args)
        assert result.returncode == 0, result.stderr

    def logs(self) -> str:
        result = docker("logs", "--tail=40", self.name)
        return result.stdout + result.stderr

    def uid(self) -> str:
        result = docker("exec", self.name, "python3", "-c", "import os; print(os.getuid())")
        assert result.returncode == 0, result.stderr + self.logs()
        return result.stdout.strip()

    def wait_for(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            state = docker("inspect", "--format={{.State.Running}}", self.name).stdout.strip()
            assert state == "true", f"{self.name} stopped:\n{self.logs()}"
            assert time.monotonic() < deadline, f"{url} did not answer 200:\n{self.logs()}"
            time.sleep(0.5)

    def remove(self) -> None:
        docker("rm", "--force", self.name)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


@pytest.mark.parametrize("target", TARGETS)
def test_each_image_is_configured_to_run_as_a_non_root_user(
    images: dict[str, str], target: str
) -> None:
    result = docker("image", "inspect", "--format={{.Config.User}}", images[target])
    assert result.stdout.strip() == USER


@pytest.mark.parametrize("function", ["confirmation", "warehouse", "rewards"])
def test_a_function_serves_health_read_only_and_unprivileged(
    images: dict[str, str], containers: list[Container], function: str
) -> None:
    port = free_port()
    container = Container(
        images["functions"],
        f"--bind=127.0.0.1:{port}",
        f'checkout_functions.app:create("{function}")',
        env={"DATABASE_URL": "sqlite:////tmp/functions.db"},
        mounts=[],
    )
    containers.append(container)
    container.wait_for(f"http://127.0.0.1:{port}/healthz")
    assert container.uid() == "10001"
    if function != "confirmation":  # its readiness needs a mail server
        container.wait_for(f"http://127.0.0.1:{port}/readyz")


def test_the_dispatcher_serves_health_read_only_and_unprivileged(
    images: dict[str, str],
    containers: list[Container],
    readable_kubeconfig: Path,
    nats: NatsServer,
    namespace: str,
) -> None:
    port = free_port()
    container = Container(
        images["dispatcher"],
        env={
            "KUBECONFIG": "/config/kubeconfig",
            "NATS_URL": nats.url,
            "DISPATCHER_NAMESPACES": namespace,
            "DISPATCHER_HOST": "127.0.0.1",
            "DISPATCHER_PORT": str(port),
        },
        mounts=[f"{readable_kubeconfig}:/config/kubeconfig:ro"],
    )
    containers.append(container)
    container.wait_for(f"http://127.0.0.1:{port}/readyz")
    container.wait_for(f"http://127.0.0.1:{port}/healthz")
    assert container.uid() == "10001"


def test_the_operator_serves_liveness_read_only_and_unprivileged(
    images: dict[str, str],
    containers: list[Container],
    readable_kubeconfig: Path,
    namespace: str,
) -> None:
    port = free_port()
    container = Container(
        images["operator"],
        f"--namespace={namespace}",
        f"--liveness=http://127.0.0.1:{port}/healthz",
        env={"KUBECONFIG": "/config/kubeconfig", "CHECKOUT_NAMESPACE": namespace},
        mounts=[f"{readable_kubeconfig}:/config/kubeconfig:ro"],
    )
    containers.append(container)
    container.wait_for(f"http://127.0.0.1:{port}/healthz")
    assert container.uid() == "10001"


def test_the_images_together_carry_out_a_checkout_in_each_mode(
    images: dict[str, str],
    containers: list[Container],
    readable_kubeconfig: Path,
    nats: NatsServer,
    api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    with Postgres(tmp_path / "db", durable=False) as database, SmtpCatcher(tmp_path) as smtp:
        urls, functions = {}, {}
        for function in ("confirmation", "warehouse", "rewards"):
            port = free_port()
            urls[function] = f"http://127.0.0.1:{port}/"
            functions[function] = Container(
                images["functions"],
                f"--bind=127.0.0.1:{port}",
                f'checkout_functions.app:create("{function}")',
                env={
                    "DATABASE_URL": database.url,
                    "SMTP_HOST": smtp.host,
                    "SMTP_PORT": str(smtp.port),
                },
                mounts=[],
            )
            containers.append(functions[function])
        for function, url in urls.items():
            functions[function].wait_for(f"{url}readyz")
        kubeconfig = {"KUBECONFIG": "/config/kubeconfig"}
        mount = [f"{readable_kubeconfig}:/config/kubeconfig:ro"]
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        operator = Container(
            images["operator"],
            f"--namespace={namespace}",
            f"--liveness={liveness}",
            env={
                **kubeconfig,
                "CHECKOUT_NAMESPACE": namespace,
                "CHECKOUT_NATS_URL": nats.url,
                "CHECKOUT_FUNCTION_URLS": ",".join(f"{k}={v}" for k, v in urls.items()),
            },
            mounts=mount,
        )
        containers.append(operator)
        health = free_port()
        dispatcher = Container(
            images["dispatcher"],
            env={
                **kubeconfig,
                "NATS_URL": nats.url,
                "DISPATCHER_NAMESPACES": namespace,
                "DISPATCHER_HOST": "127.0.0.1",
                "DISPATCHER_PORT": str(health),
            },
            mounts=mount,
        )
        containers.append(dispatcher)
        operator.wait_for(liveness)
        dispatcher.wait_for(f"http://127.0.0.1:{health}/readyz")

        placed = {
            "in-images-orchestration": "Orchestration",
            "in-images-choreography": "Choreography",
        }
        orders = {name: order_id() for name in placed}
        for name, mode in placed.items():
            body = checkout(name, orders[name], "ada@example.com", True, ["7.50"], mode=mode)
            create(api, namespace, body)
        for name, order in orders.items():
            finished = wait_finished(api, namespace, name, timeout=90)
            assert finished["status"]["phase"] == "Succeeded", (finished["status"], operator.logs())
            subjects = [str(m["Subject"]) for m in smtp.messages()]
            assert sum(order in s for s in subjects) == 1
