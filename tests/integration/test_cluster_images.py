"""The images a kind node runs for the cluster itself (hack/kind/cluster-images.sh), built here
with nothing pulled: each is there under the name kubeadm or the add-on manifests use, starts the
program they run the way they run it, and carries the tools that program needs."""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.waiting import eventually

DOCKER = os.environ.get("DOCKER", "docker")
SCRIPT = REPO / "hack" / "kind" / "cluster-images.sh"
MANIFESTS = REPO / "hack" / "kind" / "manifests"
LABEL = "org.example.checkout-operator.key"
# A first run compiles the add-ons (and kubelet, kube-proxy and kubeadm) from source.
pytestmark = pytest.mark.timeout(3600)


def pinned() -> dict[str, str]:
    lines = (REPO / "hack" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


V = pinned()
KUBE = V["KUBE_VERSION"]
PROVISIONER = V["LOCAL_PATH_PROVISIONER_VERSION"]
KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
IMAGE = {
    **{name: f"registry.k8s.io/{name}:v{KUBE}" for name in KUBE_BINARIES},
    "etcd": f"registry.k8s.io/etcd:{V['ETCD_VERSION']}",
    "pause": f"registry.k8s.io/pause:{V['PAUSE_VERSION']}",
    "coredns": f"checkout-operator/coredns:v{V['COREDNS_VERSION']}",
    "kube-router": f"checkout-operator/kube-router:v{V['KUBE_ROUTER_VERSION']}",
    "provisioner": f"checkout-operator/local-path-provisioner:v{PROVISIONER}",
    "helper": f"checkout-operator/local-path-helper:v{PROVISIONER}",
}
# What kube-proxy and kube-router run, each in a network namespace of its own with only the
# capabilities the manifests give them.
NETFILTER = [
    "--rm",
    "--network=none",
    "--cap-drop=ALL",
    "--cap-add=NET_ADMIN",
    "--cap-add=NET_RAW",
    "--entrypoint=/bin/sh",
]
NETFILTER_CHECK = """set -e
iptables --version
iptables -w -N CHECK
iptables -w -A CHECK -j RETURN
iptables-save -t filter | tee /dev/stderr | iptables-restore -w --test
ipset create check hash:ip
ipset add check 10.244.0.7
ipset test check 10.244.0.7
"""


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def run_script() -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=3300, check=False)


def inspect(image: str, field: str) -> Any:
    result = docker("image", "inspect", f"--format={{{{json .Config.{field}}}}}", image)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def manifest(name: str, kind: str, object_name: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((MANIFESTS / name).read_text())
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == object_name]
    return dict(found)


@pytest.fixture(scope="module")
def built() -> list[str]:
    """What cluster-images.sh prints, once it has built (or found current) every image."""
    result = run_script()
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.split()


class Container:
    """One container started in the background; removed when the test ends."""

    def __init__(self, *args: str) -> None:
        self.name = f"checkout-test-{uuid.uuid4().hex[:8]}"
        result = docker("run", "--detach", f"--name={self.name}", *args)
        if result.returncode != 0:
            self.remove()
            raise AssertionError(f"docker run failed: {result.stderr}")

    def running(self) -> bool:
        state = docker("inspect", "--format={{.State.Running}}", self.name)
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        result = docker("logs", self.name)
        return result.stdout + result.stderr

    def port(self, port: str) -> int:
        """The loopback port Docker published the container's `port` (like 53/udp) on."""
        result = docker("port", self.name, port)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.split()[0].rsplit(":", 1)[1])

    def http_status(self, port: int, path: str, timeout: float = 30) -> int:
        """The status of GET http://127.0.0.1:port/path once it answers at all."""

        def status() -> int | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                    return int(r.status)
            except urllib.error.HTTPError as error:
                return int(error.code)
            except OSError:
                assert self.running(), f"{self.name} stopped:\n{self.logs()}"
                return None

        found = eventually(
            status,
            f"{path} to answer",
            until=lambda code: code is not None,
            timeout=timeout,
            interval=0.5,
            logs=self.logs,
        )
        assert found is not None
        return found

    def remove(self) -> None:
        docker("rm", "--force", self.name)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def test_it_prints_every_cluster_image_once(built: list[str]) -> None:
    assert sorted(built) == sorted(IMAGE.values())


def test_each_image_is_labelled_with_the_inputs_it_was_built_from(built: list[str]) -> None:
    for image in built:
        labels = inspect(image, "Labels") or {}
        assert len(labels.get(LABEL, "")) == 12, (image, labels)


def test_a_second_run_builds_nothing(built: list[str]) -> None:
    again = run_script()
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.split() == built
    assert "building" not in again.stderr, again.stderr
    assert "importing" not in again.stderr, again.stderr


@pytest.mark.parametrize("name", KUBE_BINARIES)
def test_each_kubernetes_image_runs_its_binary_by_name_at_the_pinned_version(
    built: list[str], name: str
) -> None:
    image = IMAGE[name]
    assert inspect(image, "Entrypoint") == [f"/usr/local/bin/{name}"]
    # kubeadm's static pods and kube-proxy's DaemonSet give the command; a bare name is on PATH.
    result = docker("run", "--rm", f"--entrypoint={name}", image, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Kubernetes v{KUBE}"


def test_etcd_is_the_pinned_build_and_serves(built: list[str], containers: list[Container]) -> None:
    image = IMAGE["etcd"]
    result = docker("run", "--rm", "--entrypoint=etcd", image, "--version")
    assert result.returncode == 0, result.stderr
    assert f"etcd Version: {V['ETCD_VERSION']}" in result.stdout.splitlines()
    etcd = Container(
        "--read-only", "--tmpfs=/var/lib/etcd", "--publish=127.0.0.1::2379", image,
        "--data-dir=/var/lib/etcd", "--listen-client-urls=http://0.0.0.0:2379",
        "--advertise-client-urls=http://127.0.0.1:2379",
    )  # fmt: skip
    containers.append(etcd)
    assert etcd.http_status(etcd.port("2379/tcp"), "/health") == 200


def test_kube_proxy_has_working_iptables_ipset_and_conntrack(built: list[str]) -> None:
    check = NETFILTER_CHECK + "conntrack -L\n"
    result = docker("run", *NETFILTER, IMAGE["kube-proxy"], "-c", check)
    assert result.returncode == 0, result.stdout + result.stderr
    # Debian's iptables, on the nf_tables backend as the node's is.
    assert "(nf_tables)" in result.stdout.splitlines()[0]
    assert "-A CHECK -j RETURN" in result.stderr
    assert "flow entries have been shown" in result.stderr


def test_kube_router_runs_and_has_the_tools_of_its_firewall(built: list[str]) -> None:
    image = IMAGE["kube-router"]
    assert inspect(image, "Entrypoint") == ["/usr/local/bin/kube-router"]
    version = docker("run", "--rm", image, "--version")
    assert version.returncode == 0, version.stderr
    assert f"version v{V['KUBE_ROUTER_VERSION']}," in version.stdout + version.stderr
    result = docker("run", *NETFILTER, image, "-c", NETFILTER_CHECK)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(nf_tables)" in result.stdout.splitlines()[0]


def test_pause_runs_and_exits_cleanly_on_sigterm(
    built: list[str], containers: list[Container]
) -> None:
    image = IMAGE["pause"]
    assert inspect(image, "Entrypoint") == ["/pause"]
    assert inspect(image, "User") == "65535:65535"
    version = docker("run", "--rm", image, "-v")
    assert version.stdout.startswith(f"pause.c v{V['PAUSE_VERSION']}-"), version
    pause = Container("--read-only", "--cap-drop=ALL", image)
    containers.append(pause)
    time.sleep(1)
    assert pause.running(), pause.logs()
    started = time.monotonic()
    stop = docker("stop", "--time=20", pause.name)
    assert stop.returncode == 0, stop.stderr
    assert time.monotonic() - started < 10  # stopped by the signal, not killed after 20 s
    code = docker("inspect", "--format={{.State.ExitCode}}", pause.name).stdout.strip()
    assert code == "0", pause.logs()
    assert "Shutting down, got signal: Terminated" in pause.logs()


def dns_rcode(port: int, name: str, timeout: float = 30) -> int:
    """The response code 127.0.0.1:port gives to an A query for name (over UDP), asked again
    each second until it answers (CoreDNS opens its port only once its plugins have started)."""
    query_id = random.randrange(1 << 16)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    query = struct.pack(">6H", query_id, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)

        def ask() -> bytes:
            sock.sendto(query, ("127.0.0.1", port))
            return sock.recv(4096)

        # No answer yet, or refused: asked again (the socket waits a second for each).
        reply = eventually(ask, f"an answer for {name}", timeout=timeout, tolerate=(OSError,))
    answer_id, flags = struct.unpack(">2H", reply[:4])
    assert answer_id == query_id
    assert flags & 0x8000, "not a response"
    return int(flags & 0xF)


SERVFAIL = 2


def test_coredns_with_the_cluster_corefile_answers_and_forwards_nothing(
    built: list[str], containers: list[Container], tmp_path: Path
) -> None:
    image = IMAGE["coredns"]
    assert inspect(image, "Entrypoint") == ["/coredns"]
    assert inspect(image, "User") == "65532:65532"
    config = manifest("coredns.yaml", "ConfigMap", "coredns")
    (tmp_path / "Corefile").write_text(config["data"]["Corefile"])
    # Enough of a service account for the kubernetes plugin to start: an API server that is
    # not there, so nothing under cluster.local can be known yet.
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("not-a-token")
    for path in (tmp_path, account, account / "token", tmp_path / "Corefile"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    pod = manifest("coredns.yaml", "Deployment", "coredns")["spec"]["template"]["spec"]
    sysctls = [f"--sysctl={s['name']}={s['value']}" for s in pod["securityContext"]["sysctls"]]
    # Its resolver is itself: were anything in the Corefile to forward, it would stay inside.
    coredns = Container(
        "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges", *sysctls,
        "--dns=127.0.0.1",
        "--env=KUBERNETES_SERVICE_HOST=127.0.0.1", "--env=KUBERNETES_SERVICE_PORT=1",
        f"--volume={tmp_path / 'Corefile'}:/etc/coredns/Corefile:ro",
        f"--volume={account}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
        "--publish=127.0.0.1::53/udp", "--publish=127.0.0.1::8080", "--publish=127.0.0.1::8181",
        image, "-conf", "/etc/coredns/Corefile",
    )  # fmt: skip
    containers.append(coredns)
    assert coredns.http_status(coredns.port("8080/tcp"), "/health") == 200
    # Not ready while the API is out of reach: the ready plugin is there and says so.
    assert coredns.http_status(coredns.port("8181/tcp"), "/ready") == 503
    port = coredns.port("53/udp")
    assert dns_rcode(port, "kubernetes.default.svc.cluster.local") == SERVFAIL
    assert dns_rcode(port, "example.com") == SERVFAIL
    assert coredns.running(), coredns.logs()
    # The outside name went no further than the cluster's plugin: nothing forwards it.
    assert "example.com. A: plugin/kubernetes: no next plugin found" in coredns.logs()


def test_the_provisioner_runs_unprivileged_at_the_pinned_version(built: list[str]) -> None:
    image = IMAGE["provisioner"]
    assert inspect(image, "Entrypoint") == ["/usr/bin/local-path-provisioner"]
    assert inspect(image, "User") == "65532:65532"
    result = docker("run", "--rm", image, "--version")
    assert result.returncode == 0, result.stderr
    assert f"version v{PROVISIONER}" in result.stdout


def test_the_helper_runs_the_storage_scripts_so_any_user_can_write(
    built: list[str], tmp_path: Path
) -> None:
    image = IMAGE["helper"]
    tools = "/bin/mkdir -p /d/e && /bin/chmod 0700 /d/e && /bin/rm -r /d && echo done"
    found = docker("run", "--rm", image, "/bin/sh", "-c", tools)
    assert found.returncode == 0, found.stderr
    assert found.stdout == "done\n"
    config = manifest("default-storage.yaml", "ConfigMap", "local-path-config")["data"]
    scripts, data = tmp_path / "script", tmp_path / "data"
    scripts.mkdir()
    data.mkdir()
    for action in ("setup", "teardown"):
        (scripts / action).write_text(config[action])
    # As the provisioner runs it: the volume's parent folder mounted, VOL_DIR the volume's.
    volume = "pvc-0123_default_data"
    path = f"/var/local-path-provisioner/{volume}"

    def helper(action: str) -> subprocess.CompletedProcess[str]:
        return docker(
            "run", "--rm", "--read-only", f"--volume={scripts}:/script:ro",
            f"--volume={data}:/var/local-path-provisioner", f"--env=VOL_DIR={path}",
            image, "/bin/sh", f"/script/{action}", "-p", path, "-s", "1073741824",
            "-m", "Filesystem", "-a", "create" if action == "setup" else "delete",
        )  # fmt: skip

    made = helper("setup")
    assert made.returncode == 0, made.stderr
    assert (data / volume).is_dir()
    assert (data / volume).stat().st_mode & 0o777 == 0o777
    # The chart's NATS (1000) and PostgreSQL (999) write there.
    for user in ("1000:1000", "999:999"):
        write = docker(
            "run", "--rm", f"--user={user}", f"--volume={data / volume}:/data", image,
            "sh", "-c", "mkdir /data/$(id -u) && echo ok >/data/$(id -u)/file",
        )  # fmt: skip
        assert write.returncode == 0, write.stderr
    assert (data / volume / "999" / "file").read_text() == "ok\n"
    removed = helper("teardown")
    assert removed.returncode == 0, removed.stderr
    assert not (data / volume).exists()
