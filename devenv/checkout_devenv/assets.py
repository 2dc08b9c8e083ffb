"""Where the control-plane binaries are: the envtest convention, a folder named by
KUBEBUILDER_ASSETS holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl.
`make binaries` builds such a folder from the Go module proxy and points the variable at it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "KUBEBUILDER_ASSETS"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


class AssetsError(RuntimeError):
    """The binaries are not where KUBEBUILDER_ASSETS says."""


@dataclass(frozen=True)
class Assets:
    """The folder of control-plane binaries."""

    root: Path

    def __getitem__(self, binary: str) -> Path:
        return self.root / binary

    @classmethod
    def from_environment(cls, required: tuple[str, ...] = ("etcd", "kube-apiserver")) -> Assets:
        """Read KUBEBUILDER_ASSETS once and check that the binaries we need are there."""
        value = os.environ.get(ENV_VAR)
        if not value:
            raise AssetsError(
                f"{ENV_VAR} is not set: run `make binaries` (or `make test`), which builds the "
                f"control plane and sets it, or point it at a folder holding {', '.join(BINARIES)}"
            )
        assets = cls(Path(value))
        missing = [b for b in required if not os.access(assets[b], os.X_OK)]
        if missing:
            raise AssetsError(f"{ENV_VAR}={value} has no executable {', '.join(missing)}")
        return assets


TOOLS_VAR = "CHECKOUT_TOOLS"


def tool(name: str) -> Path:
    """A tool built by `make binaries` besides the control plane (helm, kwok), from the folder
    CHECKOUT_TOOLS names."""
    folder = os.environ.get(TOOLS_VAR, "")
    binary = Path(folder) / name
    if not folder or not os.access(binary, os.X_OK):
        raise AssetsError(
            f"{TOOLS_VAR}={folder or '(unset)'} holds no {name}: run `make binaries` "
            "(or `make test`), which builds it and sets the variable"
        )
    return binary
