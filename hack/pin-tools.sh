#!/usr/bin/env bash
# Regenerates the wrapper modules of the tools built from the Go module proxy (helm, kwok, and for
# the kind cluster nats, coredns, kube-router, local-path-provisioner) for hack/versions.env.
# Each tool has a module of its own: their Kubernetes libraries need not match each other's or the
# control plane's.
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$hack/versions.env"
pin() {  # pin FOLDER PACKAGE@VERSION
  (cd "$hack/$1" && rm -f go.mod go.sum && go mod init "checkout-operator/hack/$1" >/dev/null 2>&1 &&
    go get -tool "$2")
  echo "pinned $2"
}
pin helm "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
pin kwok "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
pin nats "github.com/nats-io/nats-server/v2@v$NATS_VERSION"
pin coredns "github.com/coredns/coredns@v$COREDNS_VERSION"
pin kube-router "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v$KUBE_ROUTER_VERSION"
pin local-path-provisioner "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_PROVISIONER_VERSION"
