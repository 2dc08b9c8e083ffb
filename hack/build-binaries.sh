#!/usr/bin/env bash
# Builds the control-plane binaries from the Go module proxy into an envtest-shaped assets folder:
#   $1/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
# Each binary is built once per version and cached next to that folder; a second run costs nothing.
set -euo pipefail
assets=${1:?usage: build-binaries.sh ASSETS_DIR}
hack=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$hack/lib.sh"
cache=$(dirname "$assets")
kube_bin=$cache/kube-v$KUBE_VERSION
etcd_bin=$cache/etcd-v$ETCD_VERSION
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

build_cached "$kube_bin" "$hack/kube" "$(kube_ldflags)" \
  . k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
build_cached "$etcd_bin" "$hack/etcd" "-s -w" etcd go.etcd.io/etcd/server/v3

mkdir -p "$assets"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do ln -sfn "$kube_bin/$b" "$assets/$b"; done
ln -sfn "$etcd_bin/etcd" "$assets/etcd"
"$assets/kube-apiserver" --version >&2
