#!/usr/bin/env bash
# Regenerates this wrapper module for the helm version in hack/versions.env (a module of its own:
# helm's Kubernetes libraries need not match the control plane's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
cd "$here"
rm -f go.mod go.sum
go mod init checkout-operator/hack/helm >/dev/null 2>&1
go get -tool "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
echo "pinned helm.sh/helm/v3 v$HELM_VERSION"
