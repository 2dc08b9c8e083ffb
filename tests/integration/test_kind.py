"""The chart on a real kind cluster made on this machine: `hack/kind/up.sh`, what `make kind-up`
runs, with a cluster name and a Mailpit port of the test's own (so a developer's `make kind-up`
cluster is left alone). Real pods on containerd, the functions reaching PostgreSQL and Mailpit
over cluster DNS, both example Checkouts Succeeded, `helm test`, NetworkPolicies enforced by
kube-router, the emails read through Mailpit's API; then `hack/kind/down.sh` leaves nothing of
the cluster on the machine, and a second `up.sh` after it works."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from checkout_devenv import assets as assets_module
from checkout_devenv.assets import Assets
from checkout_devenv.processes import free_port
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(3600)

CLUSTER = "checkout-test"
NAMESPACE = "checkout-system"
RELEASE = "checkout-operator"
EXAMPLES = {"order-1001": "1001", "order-1003": "1003"}
DOCKER = os.environ.get("DOCKER", "docker")
# Whether a TCP connection can be opened, from inside a pod (every image of ours has Python).
PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4).close()
    print("open")
except OSError as error:
    print(f"closed: {error}")
"""


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done.stdout


@dataclass
class Kind:
    """The test's cluster: how to reach it and what the machine looked like before it."""

    env: dict[str, str]
    workdir: Path
    kubectl: Path
    mail_port: int
    up_output: str
    volumes_before: set[str]
    network_before: bool

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "dev" / "kubeconfig"

    def k(self, *args: str, timeout: float = 120) -> str:
        return run(str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args, timeout=timeout)

    def json(self, *args: str) -> Any:
        return json.loads(self.k(*args, "-o", "json"))

    def up(self) -> str:
        return run(str(REPO / "hack/kind/up.sh"), env=self.env, timeout=3000)

    def down(self) -> str:
        return run(str(REPO / "hack/kind/down.sh"), env=self.env, timeout=300)


def docker_lines(*args: str) -> set[str]:
    return set(run(DOCKER, *args).split())


def cluster_exists() -> bool:
    return CLUSTER in run(str(assets_module.tool("kind")), "get", "clusters").split()


@pytest.fixture(scope="module")
def kind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kind]:
    workdir = tmp_path_factory.mktemp("kind")
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    config["name"] = CLUSTER
    mail_port = free_port()
    for mapping in config["nodes"][0]["extraPortMappings"]:
        if mapping["containerPort"] == 30825:
            mapping["hostPort"] = mail_port
    (workdir / "kind-config.yaml").write_text(yaml.safe_dump(config))
    kubectl = Assets.from_environment(required=("kubectl",))["kubectl"]
    env = {
        **os.environ,
        "KIND": str(assets_module.tool("kind")),
        "HELM": str(assets_module.tool("helm")),
        "KUBECTL": str(kubectl),
        "KIND_CONFIG": str(workdir / "kind-config.yaml"),
        "KIND_DIR": str(workdir / "dev"),
        # everything built here, as on a machine that cannot pull, wherever the test runs
        "KIND_OFFLINE": "true",
        # kind's default place for the kubeconfig, kept out of the user's ~/.kube/config
        "KUBECONFIG": str(workdir / "default-kubeconfig"),
    }
    cluster = Kind(
        env, workdir, kubectl, mail_port, "", docker_lines("volume", "ls", "-q"),
        "kind" in docker_lines("network", "ls", "--format", "{{.Name}}"),
    )  # fmt: skip
    if cluster_exists():  # left by a run that was killed
        cluster.down()
    cluster.up_output = cluster.up()
    try:
        yield cluster
    finally:
        if cluster_exists():
            cluster.down()


def test_up_reports_both_examples_succeeded(kind: Kind) -> None:
    lines = [line.split() for line in kind.up_output.splitlines()]
    rows = {line[0]: line for line in lines if line and line[0] in EXAMPLES}
    assert set(rows) == set(EXAMPLES), kind.up_output
    assert all("Succeeded" in row for row in rows.values()), kind.up_output
    modes = {name: kind.json("-n", NAMESPACE, "get", "checkout", name)["spec"]["mode"]
             for name in EXAMPLES}  # fmt: skip
    assert modes == {"order-1001": "Orchestration", "order-1003": "Choreography"}


def test_every_pod_of_the_release_is_running_and_ready_on_containerd(kind: Kind) -> None:
    (node,) = kind.json("get", "nodes")["items"]
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    pods = kind.json("-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/instance={RELEASE}")
    components = set()
    for pod in pods["items"]:
        if pod["metadata"].get("annotations", {}).get("helm.sh/hook"):
            continue  # a `helm test` pod, run to completion
        name = pod["metadata"]["name"]
        assert pod["status"]["phase"] == "Running", name
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", name
        for container in pod["status"]["containerStatuses"]:
            assert container["containerID"].startswith("containerd://"), name
        components.add(pod["metadata"]["labels"]["app.kubernetes.io/component"])
    assert components == {
        "operator", "dispatcher", "confirmation", "warehouse", "rewards",
        "nats", "postgresql", "mailpit",
    }  # fmt: skip


def exec_python(kind: Kind, pod: str, program: str, *args: str) -> str:
    return kind.k("-n", NAMESPACE, "exec", pod, "--", "python3", "-c", program, *args).strip()


def pod_of(kind: Kind, component: str) -> str:
    pods = kind.json("-n", NAMESPACE, "get", "pods", "-l",
                     f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}",
                     "--field-selector=status.phase=Running")  # fmt: skip
    return str(pods["items"][0]["metadata"]["name"])


def test_the_functions_find_the_database_and_mail_by_cluster_dns_and_nothing_outside(
    kind: Kind,
) -> None:
    resolve = (
        "import socket, sys\n"
        "try: print(socket.gethostbyname(sys.argv[1]))\n"
        "except OSError as error: print('unresolved', error)"
    )
    warehouse = pod_of(kind, "warehouse")
    for service in ("checkout-operator-postgresql", "checkout-operator-mailpit"):
        address = exec_python(kind, warehouse, resolve, service)
        assert address.startswith("10.96."), (service, address)
    # CoreDNS answers for the cluster only: no name outside it is looked up anywhere.
    assert exec_python(kind, warehouse, resolve, "example.com").startswith("unresolved")
    # What the checkouts got back from the database and the mail server, through those names.
    steps = {
        step["name"]: step
        for step in kind.json("-n", NAMESPACE, "get", "checkout", "order-1001")["status"]["steps"]
    }
    assert steps["shipment"]["output"]["shipmentId"]
    assert steps["email"]["output"]["messageId"]
    assert steps["rewards"]["output"]["points"] > 0


def test_nothing_the_node_or_its_pods_send_leaves_kinds_network(kind: Kind, intruder: str) -> None:
    """Before kube-proxy knows a Service, its address would follow the default route out of the
    machine; the node's boot unit confines every packet to kind's Docker network, ahead of the
    filter chains where kube-router accepts the traffic of pods that policies select."""
    (node,) = docker_lines("ps", "-q", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}")
    table = run(DOCKER, "exec", node, "nft", "list", "table", "inet", "kind_offline_egress")
    for hook in ("forward", "output"):
        assert f"type filter hook {hook} priority -50; policy accept;" in table, table
    # Confined to the subnet Docker gave kind's network, whichever that is on this machine.
    (network,) = json.loads(run(DOCKER, "network", "inspect", "kind"))
    (subnet,) = [c["Subnet"] for c in network["IPAM"]["Config"] if ":" not in c["Subnet"]]
    assert f'oifname "eth0" ip daddr != {subnet} reject' in table, (subnet, table)
    # A documentation address (never routed anywhere): refused at once by the node, from a pod
    # that no policy selects and from one that a policy does.
    for pod in (intruder, pod_of(kind, "operator")):
        assert exec_python(kind, pod, PROBE, "192.0.2.1", "80") == (
            "closed: [Errno 111] Connection refused"
        ), pod


def test_helm_test_passes(kind: Kind) -> None:
    output = run(
        str(assets_module.tool("helm")), "test", RELEASE, "-n", NAMESPACE,
        f"--kubeconfig={kind.kubeconfig}", "--timeout=5m", timeout=400,
    )  # fmt: skip
    assert "Phase:          Succeeded" in output, output


def mailpit(kind: Kind, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{kind.mail_port}{path}", timeout=10) as answer:
        body = answer.read()
        return json.loads(body) if path.startswith("/api/") else body.decode()


def test_one_confirmation_email_per_order_in_mailpit(kind: Kind) -> None:
    for order in EXAMPLES.values():
        query = urllib.parse.quote(f'subject:"{order}"')
        found = mailpit(kind, f"/api/v1/search?query={query}")
        subjects = [m["Subject"] for m in found["messages"]]
        assert len(subjects) == 1, (order, subjects)
        assert order in subjects[0]
        (to,) = found["messages"][0]["To"]
        assert to["Address"] == "ada@example.com"
    assert "<html" in mailpit(kind, "/").lower()  # the web view, on the host's port


@pytest.fixture
def intruder(kind: Kind) -> Iterator[str]:
    """A pod in the release's namespace with none of the labels the policies admit."""
    name = "intruder"
    spec = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "intruder"}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe", "image": "checkout-operator/functions:dev",
                "imagePullPolicy": "Never", "command": ["sleep", "3600"],
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }  # fmt: skip
    manifest = kind.workdir / "intruder.json"
    manifest.write_text(json.dumps(spec))
    kind.k("apply", "-f", str(manifest))
    kind.k("-n", NAMESPACE, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
    yield name
    kind.k("-n", NAMESPACE, "delete", "pod", name, "--now")


def connects(kind: Kind, pod: str, host: str, port: int) -> bool:
    answer = exec_python(kind, pod, PROBE, host, str(port))
    assert answer == "open" or answer.startswith("closed"), answer
    return answer == "open"


def pod_ip(kind: Kind, component: str) -> str:
    pod = kind.json("-n", NAMESPACE, "get", "pod", pod_of(kind, component))
    return str(pod["status"]["podIP"])


def test_network_policies_refuse_a_stranger_and_admit_the_parts(kind: Kind, intruder: str) -> None:
    function = ("checkout-operator-confirmation", 80)
    database = ("checkout-operator-postgresql", 5432)
    broker = ("checkout-operator-nats", 4222)
    operator, dispatcher = pod_ip(kind, "operator"), pod_ip(kind, "dispatcher")
    # The stranger's network works: Mailpit's web view is open to all.
    assert connects(kind, intruder, "checkout-operator-mailpit", 8025)
    for host, port in (function, database, broker, (operator, 8080), (dispatcher, 8080),
                       ("checkout-operator-mailpit", 1025)):  # fmt: skip
        assert not connects(kind, intruder, host, port), (host, port)
    # The parts reach what they need.
    for part in ("operator", "dispatcher"):
        pod = pod_of(kind, part)
        assert connects(kind, pod, *function), part
        assert connects(kind, pod, *broker), part
    assert connects(kind, pod_of(kind, "warehouse"), *database)
    assert connects(kind, pod_of(kind, "confirmation"), "checkout-operator-mailpit", 1025)
    # ...and only that: the operator has no business with the database.
    assert not connects(kind, pod_of(kind, "operator"), *database)


def host_rules() -> str:
    return run("iptables-save") + run("ip6tables-save")


def test_down_leaves_nothing_and_up_works_again(kind: Kind) -> None:
    (node,) = docker_lines("ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}")
    network = run(DOCKER, "network", "inspect", "--format", "{{.Id}}", "kind").strip()
    bridge = f"br-{network[:12]}"
    assert bridge in host_rules()  # Docker's rules for the network, while it is there
    kind.down()

    assert not cluster_exists()
    assert not docker_lines("ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}")
    assert docker_lines("volume", "ls", "-q") <= kind.volumes_before
    assert node not in Path("/proc/mounts").read_text()
    assert not (kind.workdir / "dev").exists()
    default = yaml.safe_load((kind.workdir / "default-kubeconfig").read_text()) or {}
    assert f"kind-{CLUSTER}" not in [c["name"] for c in default.get("contexts") or []]
    if not kind.network_before:
        assert "kind" not in docker_lines("network", "ls", "--format", "{{.Name}}")
        assert bridge not in host_rules()

    started = time.monotonic()
    output = kind.up()
    assert "order-1001" in output and "order-1003" in output, output
    print(f"second up: {time.monotonic() - started:.0f} s")
