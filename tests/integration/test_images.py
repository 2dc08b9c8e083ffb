"""The images, built here on the locally made Debian base (no pulls) and started as the chart runs
them: a read-only root filesystem with /tmp the only writable place, every capability dropped, no
privilege escalation. Each must run as its non-root user and answer on its health endpoint, and
together — operator, dispatcher and the three functions, all containers, with PostgreSQL, NATS and
an SMTP server — they must carry out a checkout in each mode."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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
from tests.integration.local_http import wait_answered

DOCKER = os.environ.get("DOCKER", "docker")
BASE = os.environ.get("CHECKOUT_BASE_IMAGE", "checkout-operator/base:bookworm")
TARGETS = ("operator", "dispatcher", "functions")
FUNCTIONS = ("confirmation", "warehouse", "rewards")
STARTS = {
    "operator": "checkout_operator.main",
    "dispatcher": "checkout_dispatcher.main",
    "functions": "gunicorn.app.wsgiapp, gunicorn.workers.gthread, checkout_functions.app",
}
"""What each image imports as it starts."""
UID = "10001"
USER = f"{UID}:{UID}"
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
    """The three targets of the Dockerfile, built on the local base: each target's image id (what
    the tests start, so a concurrent build retagging the shared tag changes nothing here)."""
    if docker("image", "inspect", BASE).returncode != 0:
        pytest.fail(
            f"no base image {BASE}: run `make images` (or `make base-image`)", pytrace=False
        )
    tag = "test"  # one tag, so each run replaces the last run's images
    built = {}
    for target in TARGETS:
        result = docker(
            "build", "--quiet", f"--build-arg=BASE_IMAGE={BASE}", f"--target={target}",
            f"--tag=checkout-operator/{target}:{tag}", str(REPO), timeout=900,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        built[target] = result.stdout.split()[-1]
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
        if result.returncode != 0:  # created but not started, say
            self.remove()
            raise AssertionError(f"docker run {image} failed: {result.stderr}")

    def logs(self) -> str:
        result = docker("logs", "--tail=40", self.name)
        return result.stdout + result.stderr

    def assert_unprivileged(self) -> None:
        """The container's main process runs as the image's user (real, effective, saved and
        file-system ids), with no capability and no way to gain privileges."""
        read = "print(open('/proc/1/status').read())"
        result = docker("exec", self.name, "python3", "-c", read)
        assert result.returncode == 0, result.stderr + self.logs()
        status = dict(line.split(":\t", 1) for line in result.stdout.splitlines() if ":\t" in line)
        assert status["Uid"].split() == [UID] * 4, status["Uid"]
        assert status["Gid"].split() == [UID] * 4, status["Gid"]
        assert int(status["CapEff"], 16) == int(status["CapPrm"], 16) == 0, status
        assert status["NoNewPrivs"] == "1", status

    def running(self) -> bool:
        state = docker("inspect", "--format={{.State.Running}}", self.name).stdout.strip()
        return state == "true"

    def wait_for(self, url: str, timeout: float = 60) -> None:
        wait_answered(url, self.running, self.logs, timeout)

    def remove(self) -> None:
        docker("rm", "--force", self.name)


class Fleet:
    """The containers a test starts, each the way the chart runs it; all removed at the end. Each
    start returns the container and the base URL of its health endpoints."""

    def __init__(self, images: dict[str, str], kubeconfig: Path) -> None:
        self.images = images
        self.started: list[Container] = []
        self._kubeconfig = {"KUBECONFIG": "/config/kubeconfig"}
        self._mount = [f"{kubeconfig}:/config/kubeconfig:ro"]

    def _start(self, image: str, *args: str, env: dict[str, str], api: bool) -> Container:
        container = Container(
            self.images[image],
            *args,
            env={**self._kubeconfig, **env} if api else env,
            mounts=self._mount if api else [],
        )
        self.started.append(container)
        return container

    def function(self, name: str, env: dict[str, str]) -> tuple[Container, str]:
        port = free_port()
        app = f'checkout_functions.app:create("{name}")'
        container = self._start("functions", f"--bind=127.0.0.1:{port}", app, env=env, api=False)
        return container, f"http://127.0.0.1:{port}/"

    def dispatcher(self, nats_url: str, namespace: str) -> tuple[Container, str]:
        port = free_port()
        env = {
            "NATS_URL": nats_url,
            "DISPATCHER_NAMESPACES": namespace,
            "DISPATCHER_HOST": "127.0.0.1",
            "DISPATCHER_PORT": str(port),
        }
        return self._start("dispatcher", env=env, api=True), f"http://127.0.0.1:{port}/"

    def operator(self, namespace: str, env: dict[str, str]) -> tuple[Container, str]:
        url = f"http://127.0.0.1:{free_port()}/"
        args = (f"--namespace={namespace}", f"--liveness={url}healthz")
        env = {"CHECKOUT_NAMESPACE": namespace, **env}
        return self._start("operator", *args, env=env, api=True), url


@pytest.fixture
def fleet(images: dict[str, str], readable_kubeconfig: Path) -> Iterator[Fleet]:
    started = Fleet(images, readable_kubeconfig)
    yield started
    for container in started.started:
        container.remove()


@pytest.mark.parametrize("target", TARGETS)
def test_each_image_is_configured_to_run_as_a_non_root_user(
    images: dict[str, str], target: str
) -> None:
    result = docker("image", "inspect", "--format={{.Config.User}}", images[target])
    assert result.stdout.strip() == USER


@pytest.mark.parametrize("target", TARGETS)
def test_the_images_carry_no_development_harness(images: dict[str, str], target: str) -> None:
    probe = (
        "import importlib.util, shutil; "
        "print([m for m in ('checkout_devenv', 'cryptography', 'pytest') "
        "if importlib.util.find_spec(m)], shutil.which('checkout-devenv'))"
    )
    result = docker("run", "--rm", "--entrypoint=python3", images[target], "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] None"


@pytest.mark.parametrize("target", TARGETS)
def test_the_images_ship_the_bytecode_of_what_they_start(
    images: dict[str, str], target: str
) -> None:
    # On the read-only root filesystem, a module without bytecode would be compiled on every start.
    python = ("--entrypoint=python3", images[target], "-v", "-c", f"import {STARTS[target]}")
    result = docker("run", "--rm", *RESTRICTED, *python)
    assert result.returncode == 0, result.stderr
    # `python -v` names the bytecode it loads a module from, quoted, or the source it compiles.
    compiled = re.findall(r"^# code object from (/\S+\.py)$", result.stderr, re.MULTILINE)
    assert compiled == []
    assert "# code object from '/opt/checkout/lib/" in result.stderr


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_serves_health_read_only_and_unprivileged(fleet: Fleet, function: str) -> None:
    # No DATABASE_URL: the default SQLite file, in the working directory, must be writable.
    container, url = fleet.function(function, {})
    container.wait_for(f"{url}healthz")
    container.assert_unprivileged()
    if function != "confirmation":  # its readiness needs a mail server
        container.wait_for(f"{url}readyz")


def test_the_dispatcher_serves_health_read_only_and_unprivileged(
    fleet: Fleet, nats: NatsServer, namespace: str
) -> None:
    container, url = fleet.dispatcher(nats.url, namespace)
    container.wait_for(f"{url}readyz")
    container.wait_for(f"{url}healthz")
    container.assert_unprivileged()


def test_the_operator_serves_liveness_read_only_and_unprivileged(
    fleet: Fleet, namespace: str
) -> None:
    container, url = fleet.operator(namespace, {})
    container.wait_for(f"{url}healthz")
    container.assert_unprivileged()


def test_the_images_together_carry_out_a_checkout_in_each_mode(
    fleet: Fleet, nats: NatsServer, api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    with Postgres(tmp_path / "db", durable=False) as database, SmtpCatcher(tmp_path) as smtp:
        env = {"DATABASE_URL": database.url, "SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port)}
        functions = {
            name: fleet.function(name, env) for name in ("confirmation", "warehouse", "rewards")
        }
        for container, url in functions.values():
            container.wait_for(f"{url}readyz")
        urls = ",".join(f"{name}={url}" for name, (_, url) in functions.items())
        operator, liveness = fleet.operator(
            namespace, {"CHECKOUT_NATS_URL": nats.url, "CHECKOUT_FUNCTION_URLS": urls}
        )
        dispatcher, health = fleet.dispatcher(nats.url, namespace)
        operator.wait_for(f"{liveness}healthz")
        dispatcher.wait_for(f"{health}readyz")

        placed = {"images-orchestration": "Orchestration", "images-choreography": "Choreography"}
        orders = {name: order_id() for name in placed}
        for name, mode in placed.items():
            body = checkout(name, orders[name], "ada@example.com", True, ["7.50"], mode=mode)
            create(api, namespace, body)
        for name, order in orders.items():
            finished = wait_finished(api, namespace, name, timeout=90)
            assert finished["status"]["phase"] == "Succeeded", (finished["status"], operator.logs())
            subjects = [str(m["Subject"]) for m in smtp.messages()]
            assert sum(order in s for s in subjects) == 1
