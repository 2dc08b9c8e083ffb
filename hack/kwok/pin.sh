#!/usr/bin/env bash
# Regenerates this wrapper module for the kwok version in hack/versions.env (a module of its own:
# kwok's Kubernetes libraries need not match the control plane's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
cd "$here"
rm -f go.mod go.sum
go mod init checkout-operator/hack/kwok >/dev/null 2>&1
go get -tool "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
echo "pinned sigs.k8s.io/kwok v$KWOK_VERSION"
