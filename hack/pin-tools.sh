#!/usr/bin/env bash
# Regenerates the wrapper modules hack/helm and hack/kwok for the versions in hack/versions.env.
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
