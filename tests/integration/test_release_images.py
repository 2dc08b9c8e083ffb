"""The third-party images the chart runs, as `hack/kind/release-images.sh` builds them with nothing
pulled: NATS, PostgreSQL and Mailpit. Each is started the way the chart runs it — its user, a
read-only root filesystem, every capability dropped, no privilege escalation, writable only where
the chart mounts a volume — and used for what the chart uses it for: JetStream kept on its volume,
a database reached with its password and kept across restarts, mail caught and shown."""

from __future__ import annotations

import asyncio
import json
import os
import re
import smtplib
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest
import yaml
from nats.js.errors import NotFoundError
from psycopg.rows import TupleRow

from checkout_devenv.processes import free_port
from tests.conftest import REPO
from tests.integration.local_http import wait_answered
from tests.waiting import eventually

# A cold build (nats-server, Mailpit and its web view, Debian's PostgreSQL) takes minutes.
pytestmark = pytest.mark.timeout(1200)

DOCKER = os.environ.get("DOCKER", "docker")
SCRIPT = REPO / "hack" / "kind" / "release-images.sh"
RESTRICTED = ["--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges"]
# What the chart's values name: its database, its user, and a password like the one it generates.
DATABASE = USER = "checkout"
PASSWORD = uuid.uuid4().hex


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def release_images(values: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), str(values)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """The script's run: the image names it printed, and the values file it wrote."""
    values = tmp_path_factory.mktemp("release-images") / "values.yaml"
    result = release_images(values)
    assert result.returncode == 0, result.stderr[-6000:]
    return result.stdout.split(), values


@pytest.fixture(scope="module")
def images(built: tuple[list[str], Path]) -> dict[str, str]:
    """Each image's id by component (what the tests start, so a concurrent build retagging the
    shared tags changes nothing here)."""
    names, _ = built
    ids = {}
    for name in names:
        result = docker("image", "inspect", "--format={{.Id}}", name)
        assert result.returncode == 0, result.stderr
        ids[name.split("/")[-1].split(":")[0]] = result.stdout.strip()
    return ids


class Container:
    """One container started in the chart's restricted way, its ports published on loopback."""

    def __init__(
        self,
        image: str,
        *args: str,
        user: str,
        ports: Sequence[int] = (),
        mounts: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = f"checkout-test-{uuid.uuid4().hex[:8]}"
        self.user = user
        self.port = {port: free_port() for port in ports}
        flags = [f"--publish=127.0.0.1:{host}:{port}" for port, host in self.port.items()]
        flags += [*mounts, *(f"--env={k}={v}" for k, v in (env or {}).items())]
        result = docker(
            "run", "--detach", f"--name={self.name}", f"--user={user}", *RESTRICTED, *flags,
            image, *args,
        )  # fmt: skip
        if result.returncode != 0:  # created but not started, say
            self.remove()
            raise AssertionError(f"docker run {image} failed: {result.stderr}")

    def url(self, port: int, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port[port]}{path}"

    def logs(self) -> str:
        result = docker("logs", "--tail=60", self.name)
        return result.stdout + result.stderr

    def running(self) -> bool:
        state = docker("inspect", "--format={{.State.Running}}", self.name).stdout.strip()
        return state == "true"

    def wait_for(self, url: str, timeout: float = 60) -> bytes:
        """The body of the first 200 from url."""
        return wait_answered(url, self.running, self.logs, timeout)

    def assert_unprivileged(self, command: str) -> None:
        """The container's first process is `command`, running as the chart's user (real,
        effective, saved and file-system ids) with no capability and no way to gain any. Read
        from the host's /proc: these images have no shell to ask."""
        pid = docker("inspect", "--format={{.State.Pid}}", self.name).stdout.strip()
        proc = Path("/proc") / pid
        assert (proc / "comm").read_text().strip() == command
        lines = (proc / "status").read_text().splitlines()
        status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
        uid, gid = self.user.split(":")
        assert status["Uid"].split() == [uid] * 4, status["Uid"]
        assert status["Gid"].split() == [gid] * 4, status["Gid"]
        assert int(status["CapEff"], 16) == int(status["CapPrm"], 16) == 0, status
        assert status["NoNewPrivs"].strip() == "1", status

    def stop(self, signal: str = "TERM", timeout: float = 60) -> int:
        """Sends the signal and waits for the container to exit; its exit code."""
        result = docker("kill", f"--signal={signal}", self.name)
        assert result.returncode == 0, result.stderr
        waited = docker("wait", self.name, timeout=timeout)
        assert waited.returncode == 0, waited.stderr
        return int(waited.stdout.strip())

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name)


class Containers:
    """The containers and volumes a test makes; all removed when it ends."""

    def __init__(self) -> None:
        self.started: list[Container] = []
        self.volumes: list[str] = []

    def started_here(self, container: Container) -> Container:
        """`container`, removed when the test ends."""
        self.started.append(container)
        return container

    def volume(self) -> str:
        name = f"checkout-test-{uuid.uuid4().hex[:8]}"
        result = docker("volume", "create", name)
        assert result.returncode == 0, result.stderr
        self.volumes.append(name)
        return name

    def remove(self) -> None:
        for container in self.started:
            container.remove()
        for volume in self.volumes:
            docker("volume", "rm", "--force", volume)


@pytest.fixture
def containers() -> Iterator[Containers]:
    made = Containers()
    yield made
    made.remove()


def test_the_script_writes_values_that_point_the_chart_at_its_images(
    built: tuple[list[str], Path],
) -> None:
    names, values = built
    assert names == [
        "checkout-operator/nats:2.11.3",
        "checkout-operator/postgresql:15",
        "checkout-operator/mailpit:v1.33.1",
    ]
    overlay = yaml.safe_load(values.read_text())
    assert set(overlay) == {"nats", "postgresql", "mailpit"}
    for component, name in zip(("nats", "postgresql", "mailpit"), names, strict=True):
        repository, tag = name.rsplit(":", 1)
        want = {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
        assert overlay[component]["image"] == want


def test_a_second_run_builds_nothing(
    built: tuple[list[str], Path], images: dict[str, str], tmp_path: Path
) -> None:
    result = release_images(tmp_path / "values.yaml")
    assert result.returncode == 0, result.stderr[-6000:]
    assert "building" not in result.stderr, result.stderr[-3000:]
    names, _ = built
    for name in names:
        now = docker("image", "inspect", "--format={{.Id}}", name).stdout.strip()
        assert now == images[name.split("/")[-1].split(":")[0]], name
        key = docker(
            "image", "inspect", "--format={{index .Config.Labels "
            '"org.example.checkout-operator.key"}}', name,
        ).stdout.strip()  # fmt: skip
        assert re.fullmatch("[0-9a-f]{12}", key), (name, key)


# NATS -----------------------------------------------------------------------------------------

STREAM = "RELEASE_CHECK"


async def _create_stream_and_publish(url: str) -> int:
    connection = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = connection.jetstream()
        await js.add_stream(name=STREAM, subjects=["release.check"])
        ack = await js.publish("release.check", b"kept on the volume")
        return int(ack.seq)
    finally:
        await connection.close()


async def _stored(url: str) -> list[bytes] | None:
    """The stream's messages, or None when there is no such stream."""
    connection = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = connection.jetstream()
        try:
            info = await js.stream_info(STREAM)
        except NotFoundError:
            return None
        first, last = info.state.first_seq, info.state.last_seq
        return [(await js.get_msg(STREAM, seq)).data or b"" for seq in range(first, last + 1)]
    finally:
        await connection.close()


def _nats(containers: Containers, image: str, volume: str) -> Container:
    """The server as the chart's StatefulSet starts it: its args, the store on a volume."""
    args = ("--jetstream", "--store_dir=/data", "--http_port=8222", "--server_name=nats-0")
    return containers.started_here(
        Container(
            image, *args, user="1000:1000", ports=(4222, 8222), mounts=[f"--volume={volume}:/data"]
        )
    )


def test_nats_serves_jetstream_and_keeps_its_streams_on_the_volume(
    images: dict[str, str], containers: Containers
) -> None:
    volume = containers.volume()
    server = _nats(containers, images["nats"], volume)
    # The chart's probes: startup, then readiness and liveness.
    assert json.loads(server.wait_for(server.url(8222, "/healthz"))) == {"status": "ok"}
    healthy = server.wait_for(server.url(8222, "/healthz?js-enabled-only=true"))
    assert json.loads(healthy) == {"status": "ok"}
    server.assert_unprivileged("nats-server")
    url = f"nats://127.0.0.1:{server.port[4222]}"
    assert asyncio.run(_stored(url)) is None
    assert asyncio.run(_create_stream_and_publish(url)) == 1
    assert asyncio.run(_stored(url)) == [b"kept on the volume"]

    # The pod replaced: a new container on the same volume.
    assert server.stop() == 0, server.logs()
    server.remove()
    again = _nats(containers, images["nats"], volume)
    again.wait_for(again.url(8222, "/healthz?js-enabled-only=true"))
    url = f"nats://127.0.0.1:{again.port[4222]}"
    assert asyncio.run(_stored(url)) == [b"kept on the volume"], again.logs()


# PostgreSQL -----------------------------------------------------------------------------------


def _postgresql(containers: Containers, image: str, volume: str, **env: str) -> Container:
    """The server as the chart's StatefulSet starts it: its env, the data volume, and emptyDirs
    for the socket folder and /tmp."""
    return containers.started_here(
        Container(
            image,
            user="999:999",
            ports=(5432,),
            mounts=[
                f"--volume={volume}:/var/lib/postgresql/data",
                "--tmpfs=/var/run/postgresql",
                "--tmpfs=/tmp",
            ],
            env={
                "POSTGRES_DB": DATABASE,
                "POSTGRES_USER": USER,
                "POSTGRES_PASSWORD": PASSWORD,
                "PGDATA": "/var/lib/postgresql/data/pgdata",
                **env,
            },
        )
    )


def _wait_ready(server: Container, timeout: float = 90) -> None:
    """Until the chart's probe succeeds."""
    probe = ("pg_isready", "-h", "127.0.0.1", "-U", USER, "-d", DATABASE)

    def probed() -> bool:
        assert server.running(), f"{server.name} stopped:\n{server.logs()}"
        return docker("exec", server.name, *probe).returncode == 0

    eventually(probed, "pg_isready to succeed", timeout=timeout, interval=0.5, logs=server.logs)
    result = docker("exec", server.name, *probe)
    assert "accepting connections" in result.stdout, result.stdout


def _connect(server: Container, password: str = PASSWORD) -> psycopg.Connection[TupleRow]:
    return psycopg.connect(
        host="127.0.0.1",
        port=server.port[5432],
        user=USER,
        password=password,
        dbname=DATABASE,
        connect_timeout=5,
        autocommit=True,
    )


def test_postgresql_makes_the_database_once_and_keeps_it(
    images: dict[str, str], containers: Containers
) -> None:
    volume = containers.volume()
    server = _postgresql(containers, images["postgresql"], volume)
    _wait_ready(server)
    server.assert_unprivileged("postgres")  # exec'd: the server is PID 1, not a shell
    with _connect(server) as connection:
        row = connection.execute(
            "SELECT current_user, current_database(), current_setting('data_directory'),"
            " current_setting('listen_addresses')"
        ).fetchone()
        assert row == (USER, DATABASE, "/var/lib/postgresql/data/pgdata", "*")
        verifier = connection.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (USER,)
        ).fetchone()
        assert verifier is not None and str(verifier[0]).startswith("SCRAM-SHA-256$")
        connection.execute("CREATE TABLE kept (note text)")
        connection.execute("INSERT INTO kept VALUES ('still here')")
    # Password authentication over TCP, from an address that is not the container's own.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(server, password="not-the-password").close()

    # SIGTERM (what a pod's stop sends when the image names no other signal) stops it cleanly.
    assert server.stop("TERM") == 0, server.logs()
    assert "database system is shut down" in server.logs()
    server.remove()

    # A new container on the volume: no second initdb, the same password, the data kept. A
    # different POSTGRES_PASSWORD changes nothing, as in the official image.
    again = _postgresql(containers, images["postgresql"], volume, POSTGRES_PASSWORD="ignored")
    _wait_ready(again)
    logs = again.logs()
    assert "creating configuration files" not in logs, logs
    assert "database system was shut down at" in logs, logs  # not a crash recovery
    with _connect(again) as connection:
        assert connection.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    assert again.stop("INT") == 0, again.logs()  # the image's own stop signal: fast shutdown


def test_postgresql_refuses_to_start_without_a_password(
    images: dict[str, str], containers: Containers
) -> None:
    volume = containers.volume()
    server = _postgresql(containers, images["postgresql"], volume, POSTGRES_PASSWORD="")
    waited = docker("wait", server.name)
    assert waited.stdout.strip() != "0", server.logs()
    assert "POSTGRES_PASSWORD" in server.logs()


# Mailpit --------------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, "", b""


def _mailpit(containers: Containers, image: str) -> Container:
    """As the chart's Deployment starts it: its env, an emptyDir on /tmp."""
    env = {"MP_SMTP_BIND_ADDR": "0.0.0.0:1025", "MP_UI_BIND_ADDR": "0.0.0.0:8025"}
    return containers.started_here(
        Container(image, user="1000:1000", ports=(1025, 8025), mounts=["--tmpfs=/tmp"], env=env)
    )


def test_mailpit_catches_mail_over_smtp_and_lists_it_in_its_api(
    images: dict[str, str], containers: Containers
) -> None:
    server = _mailpit(containers, images["mailpit"])
    server.wait_for(server.url(8025, "/livez"))
    server.wait_for(server.url(8025, "/readyz"))
    server.assert_unprivileged("mailpit")
    subject = f"release image check {uuid.uuid4().hex[:8]}"
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["To"] = "ada@example.com"
    message["Subject"] = subject
    message.set_content("Your order is confirmed.")
    with smtplib.SMTP("127.0.0.1", server.port[1025], timeout=10) as smtp:
        smtp.send_message(message)

    def listed() -> list[dict[str, Any]]:
        listing = json.loads(server.wait_for(server.url(8025, "/api/v1/messages")))
        return [m for m in listing["messages"] if m["Subject"] == subject]

    found = eventually(listed, f"Mailpit to list {subject!r}", timeout=30, interval=0.3)
    assert [to["Address"] for to in found[0]["To"]] == ["ada@example.com"]
    assert found[0]["From"]["Address"] == "shop@example.com"


def test_mailpits_web_view_and_its_assets_load(
    images: dict[str, str], containers: Containers
) -> None:
    server = _mailpit(containers, images["mailpit"])
    index = server.url(8025, "/")
    page = server.wait_for(index).decode()
    assets = {urllib.parse.urljoin(index, a) for a in re.findall(r'(?:href|src)="([^"]+)"', page)}
    scripts = [a for a in assets if urllib.parse.urlparse(a).path.endswith("/dist/app.js")]
    styles = [a for a in assets if urllib.parse.urlparse(a).path.endswith("/dist/app.css")]
    assert scripts and styles, page
    for asset in sorted(assets):
        status, _, _ = _get(asset)
        assert status == 200, asset
    status, kind, script = _get(scripts[0])
    assert "javascript" in kind and len(script) > 100_000, (kind, len(script))
    status, kind, style = _get(styles[0])
    assert "text/css" in kind, kind
    # The stylesheet's fonts, and the API documentation page's script.
    linked = re.findall(r'url\("?([^")]+)"?\)', style.decode())
    fonts = [url for url in linked if ".woff" in url and not url.startswith("data:")]
    assert fonts, "app.css names no font"
    for font in fonts:
        status, _, body = _get(urllib.parse.urljoin(styles[0], font))
        assert status == 200 and body, font
    docs = server.url(8025, "/api/v1/")
    status, _, body = _get(docs)
    assert status == 200
    (docs_script,) = re.findall(r'src="([^"]*docs\.js[^"]*)"', body.decode())
    status, kind, body = _get(urllib.parse.urljoin(docs, docs_script))
    assert status == 200 and "javascript" in kind and len(body) > 100_000, (status, kind)
