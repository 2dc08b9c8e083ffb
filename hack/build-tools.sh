#!/usr/bin/env bash
# Builds the tools the chart's tests need from the Go module proxy: helm and kwok, into
#   $1/{helm,kwok}
# Each is built once per version and cached next to that folder, as build-binaries.sh does.
set -euo pipefail
tools=${1:?usage: build-tools.sh TOOLS_DIR}
hack=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$hack/versions.env"
cache=$(dirname "$tools")
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
# shellcheck source=lib.sh
. "$hack/lib.sh"

tool() {  # tool NAME VERSION LDFLAGS PACKAGE: built once into the cache, linked into $tools
  local name=$1 version=$2
  build_cached "$cache/$name-v$version" "$hack/$name" "$3" "$name" "$4"
  mkdir -p "$tools" && ln -sfn "$cache/$name-v$version/$name" "$tools/$name"
}

tool helm "$HELM_VERSION" \
  "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" helm.sh/helm/v3/cmd/helm
tool kwok "$KWOK_VERSION" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
"$tools/helm" version --short >&2
