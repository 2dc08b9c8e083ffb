#!/usr/bin/env bash
# Regenerates this wrapper module for the Kubernetes version in hack/versions.env.
#
# k8s.io/kubernetes points its staging modules (k8s.io/api, k8s.io/client-go, ...) at ./staging
# with replace directives, so `go install k8s.io/kubernetes/cmd/...@v1.x` is refused. This module
# requires k8s.io/kubernetes and replaces every staging module with its published v0.x twin; the
# list is read from the published go.mod rather than typed, so a new release needs only a new pin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
minor=$(cut -d. -f2 <<<"$KUBE_VERSION")
patch=${KUBE_VERSION##*.}
staging="v0.$minor.$patch"

upstream=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | jq -r .GoMod)
cd "$here"
rm -f go.mod go.sum
go mod init checkout-operator/hack/kube >/dev/null 2>&1
go mod edit -go="$(go mod edit -json "$upstream" | jq -r .Go)"
# GODEBUG defaults follow the main module: keep upstream's.
godebug=$(sed -n 's/^godebug //p' "$upstream")
[ -n "$godebug" ] && go mod edit -godebug="$godebug"
for m in $(go mod edit -json "$upstream" | jq -r '.Require[] | select(.Version == "v0.0.0") | .Path'); do
  go mod edit -replace="$m=$m@$staging"
done
go get -tool \
  "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kube-controller-manager@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kube-scheduler@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kubectl@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kubelet@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kube-proxy@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kubeadm@v$KUBE_VERSION"
echo "pinned k8s.io/kubernetes v$KUBE_VERSION (staging $staging)"
