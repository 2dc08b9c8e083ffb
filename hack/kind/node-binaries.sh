#!/usr/bin/env bash
# Builds the node's Kubernetes binaries from the Go module proxy (the wrapper module hack/kube)
# and links them into a folder:
#   $1/{kubelet,kube-proxy,kubeadm}
# Built once per version into $CACHE/kube-node-v$KUBE_VERSION (kubelet and kube-proxy take a few
# minutes on two cores), with the version flags build-binaries.sh gives the control plane: kubeadm
# and kind read the version the binaries report.
set -euo pipefail
dest=${1:?usage: node-binaries.sh DEST_DIR}
hack=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib.sh
. "$hack/lib.sh"
bin=$cache/kube-node-v$KUBE_VERSION
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

build_cached "$bin" "$hack/kube" "$(kube_ldflags)" \
  . k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubeadm

mkdir -p "$dest"
# (DEST may be the cache folder itself: a binary is never replaced by a link to itself.)
if [ "$(cd "$dest" && pwd -P)" != "$(cd "$bin" && pwd -P)" ]; then
  for b in kubelet kube-proxy kubeadm; do ln -sfn "$bin/$b" "$dest/$b"; done
fi
echo "kubeadm $("$dest/kubeadm" version -o short)" >&2
