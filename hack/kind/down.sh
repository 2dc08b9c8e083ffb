#!/usr/bin/env bash
# `make kind-down`: removes the cluster of `make kind-up` and what it added to this machine — the
# node container and its volume, its entries in kind's default kubeconfig, .dev/kind, and kind's
# Docker network with the iptables rules Docker keeps for it (when no other cluster uses it).
# Every chain kube-proxy and kube-router make lives in the node's own network namespace and goes
# with it. The images built here stay: they are caches, keyed by their inputs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
docker=${DOCKER:-docker}
kind=${KIND:-kind}
python=${PYTHON:-$repo/.venv/bin/python}
# KIND_CONFIG and KIND_DIR as for up.sh.
config=${KIND_CONFIG:-$repo/kind-config.yaml}
described=$("$python" -m checkout_devenv.kindconfig --describe "$config")
cluster=${described%% *}

# shellcheck source=host.sh
. "$(dirname "$0")/host.sh"
"$kind" delete cluster --name "$cluster"
rm -rf "${KIND_DIR:-$repo/.dev/kind}"
# kind makes one network, "kind", for all its clusters, and leaves it behind.
if "$docker" network inspect kind >/dev/null 2>&1 &&
  [ "$("$docker" network inspect --format '{{len .Containers}}' kind)" = 0 ]; then
  "$docker" network rm kind >/dev/null
  echo "removed Docker network kind" >&2
fi
