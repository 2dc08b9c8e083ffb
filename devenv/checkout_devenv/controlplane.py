"""A real Kubernetes control plane as local processes: etcd and kube-apiserver on free loopback
ports, with generated certificates, RBAC on, and an admin kubeconfig — what envtest starts, without
its downloads."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from checkout_devenv import pki
from checkout_devenv.assets import Assets
from checkout_devenv.processes import Process, Service, answers_ok, free_port

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
CONTEXT = "checkout-dev"
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Request = tuple[str, str, str]
"""(resource, subresource, verb), e.g. ("checkouts", "status", "PATCH")."""


@dataclass(frozen=True)
class Paths:
    """Files of one control plane, under its work folder."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def cert(self, name: str) -> Path:
        return self.pki / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.pki / f"{name}.key"


def write_pki(paths: Paths) -> None:
    """Generate certificates once; a restarted control plane keeps its CA and signing key, so
    kubeconfigs and service-account tokens stay valid."""
    if paths.cert("ca").exists():
        return
    bundle = pki.generate()
    paths.pki.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "serving", "admin", "service_account"):
        pair: pki.PEMPair = getattr(bundle, name)
        paths.cert(name).write_bytes(pair.cert)
        key = paths.key(name)
        key.write_bytes(pair.key)
        key.chmod(0o600)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    server: str,
    ca: bytes,
    client_cert: bytes = b"",
    client_key: bytes = b"",
    user: str = "admin",
    token: str = "",
) -> dict[str, object]:
    """A self-contained kubeconfig (certificates inline), so the file can be copied anywhere.
    The user authenticates with a client certificate, or with a bearer token when one is given."""
    credentials = (
        {"token": token}
        if token
        else {"client-certificate-data": _b64(client_cert), "client-key-data": _b64(client_key)}
    )
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }


class ControlPlane(Service):
    """etcd + kube-apiserver. Use as a context manager, or start() and stop()."""

    def __init__(
        self, assets: Assets, workdir: Path, *, durable: bool = True, controllers: bool = False
    ) -> None:
        """`durable=False` runs etcd without fsync: faster tests, state not crash-safe.
        `controllers=True` keeps the ServiceAccount admission plugin on, for a control plane
        whose controller-manager creates every namespace's `default` ServiceAccount."""
        self.assets = assets
        self.paths = Paths(workdir)
        self.durable = durable
        self.controllers = controllers
        self.etcd_url = ""
        self.server = ""
        self._processes: list[Process] = []

    @property
    def kubeconfig(self) -> Path:
        return self.paths.kubeconfig

    def start(self, timeout: float = 60.0) -> None:
        write_pki(self.paths)
        try:
            self._start_etcd(timeout)
            self._start_apiserver(timeout)
        except BaseException:
            self.stop()
            raise
        self._write_kubeconfig()

    def stop(self) -> None:
        """Stop in reverse order of start: the API server before its storage."""
        while self._processes:
            self._processes.pop().stop()

    def pids(self) -> list[int]:
        """Process ids of the running parts, in start order."""
        return [p.pid for p in self._processes if p.pid is not None]

    def running(self) -> bool:
        return bool(self._processes) and all(p.running() for p in self._processes)

    def _start_etcd(self, timeout: float) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        argv = [
            str(self.assets["etcd"]),
            "--name=default",
            f"--data-dir={self.paths.etcd_data}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--log-level=warn",
        ]
        if not self.durable:
            argv.append("--unsafe-no-fsync")
        etcd = Process("etcd", argv, self.paths.logs / "etcd.log")
        self._processes.append(etcd)
        etcd.start()
        etcd.wait_ready(lambda: _etcd_healthy(self.etcd_url), timeout)

    def _start_apiserver(self, timeout: float) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        p = self.paths
        argv = [
            str(self.assets["kube-apiserver"]),
            f"--etcd-servers={self.etcd_url}",
            f"--cert-dir={p.pki}",
            f"--tls-cert-file={p.cert('serving')}",
            f"--tls-private-key-file={p.key('serving')}",
            f"--client-ca-file={p.cert('ca')}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={p.cert('service_account')}",
            f"--service-account-signing-key-file={p.key('service_account')}",
            "--allow-privileged=true",
            "--profiling=false",
        ]
        if not self.controllers:
            # No controller-manager, so no namespace gets its `default` ServiceAccount.
            argv.append("--disable-admission-plugins=ServiceAccount")
        apiserver = Process("kube-apiserver", argv, p.logs / "kube-apiserver.log")
        self._processes.append(apiserver)
        apiserver.start()
        context = self.ssl_context()
        apiserver.wait_ready(lambda: answers_ok(f"{self.server}/readyz", context), timeout)

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context that trusts our CA and presents the admin certificate."""
        context = ssl.create_default_context(cafile=str(self.paths.cert("ca")))
        context.load_cert_chain(self.paths.cert("admin"), self.paths.key("admin"))
        return context

    def _write_kubeconfig(self) -> None:
        p = self.paths
        config = kubeconfig(
            self.server,
            p.cert("ca").read_bytes(),
            p.cert("admin").read_bytes(),
            p.key("admin").read_bytes(),
        )
        _write_private(p.kubeconfig, yaml.safe_dump(config))

    def token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A token of ServiceAccount `namespace/name` from the TokenRequest API, valid for
        `seconds`: what a pod of that ServiceAccount would present."""
        request = json.dumps(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds},
            }
        ).encode()
        url = f"{self.server}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        post = urllib.request.Request(
            url, data=request, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(post, context=self.ssl_context(), timeout=10) as response:
            token: str = json.load(response)["status"]["token"]
            return token

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path, seconds: int = 3600
    ) -> Path:
        """Write a kubeconfig that acts as ServiceAccount `namespace/name` with a fresh token
        (same server and CA as the admin one)."""
        token = self.token(namespace, name, seconds)
        user = f"system:serviceaccount:{namespace}:{name}"
        config = kubeconfig(self.server, self.paths.cert("ca").read_bytes(), user=user, token=token)
        _write_private(path, yaml.safe_dump(config))
        return path

    def writes(self) -> dict[Request, int]:
        """Write requests served so far, by resource, subresource and verb (see write_totals)."""
        return self.requests(WRITE_VERBS)

    def requests(self, verbs: Collection[str]) -> dict[Request, int]:
        """Requests of these verbs served so far, by resource, subresource and verb."""
        with urllib.request.urlopen(
            f"{self.server}/metrics", context=self.ssl_context(), timeout=10
        ) as response:
            return write_totals(response.read().decode(), verbs)

    def version(self) -> dict[str, str]:
        """The API server's /version document."""
        with urllib.request.urlopen(
            f"{self.server}/version", context=self.ssl_context(), timeout=5
        ) as response:
            version: dict[str, str] = json.load(response)
            return version


def write_totals(metrics: str, verbs: Collection[str] = WRITE_VERBS) -> dict[Request, int]:
    """Sum `apiserver_request_total` of the write verbs (or of `verbs`) in a Prometheus
    exposition, by resource, subresource and verb (over every code, scope and version)."""
    totals: dict[Request, int] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            labels = sample.labels
            if sample.name != "apiserver_request_total" or labels.get("verb") not in verbs:
                continue
            key = (labels.get("resource", ""), labels.get("subresource", ""), labels["verb"])
            totals[key] = totals.get(key, 0) + int(sample.value)
    return totals


def spent(before: dict[Request, int], after: dict[Request, int]) -> dict[Request, int]:
    """The requests made between two readings of `writes`, leaving out those not made at all."""
    return {key: n - before.get(key, 0) for key, n in after.items() if n > before.get(key, 0)}


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, atomically: credentials are never half-written."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def _etcd_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(json.load(response).get("health") == "true")
    except (OSError, ValueError):
        return False
