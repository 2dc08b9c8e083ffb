#!/usr/bin/env bash
# Regenerates this wrapper module for the etcd version in hack/versions.env.
# etcd's server module has replace directives too, and pins grpc/otel versions that clash with
# Kubernetes', hence a module of its own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
cd "$here"
rm -f go.mod go.sum
go mod init checkout-operator/hack/etcd >/dev/null 2>&1
upstream=$(go mod download -json "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" | jq -r .GoMod)
go mod edit -go="$(go mod edit -json "$upstream" | jq -r .Go)"
go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
echo "pinned go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
