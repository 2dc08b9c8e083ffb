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

build() {  # build NAME VERSION MODULE_DIR LDFLAGS PACKAGE ; atomic: a half-built folder never counts
  local name=$1 version=$2 module=$3 ldflags=$4 package=$5
  local dest="$cache/$name-v$version"
  if [ ! -f "$dest/.complete" ]; then
    local tmp="$dest.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    echo "building $name v$version (first time only; a few minutes)" >&2
    (cd "$module" && go build -ldflags "$ldflags" -o "$tmp/$name" "$package")
    touch "$tmp/.complete"
    rm -rf "$dest" && mv "$tmp" "$dest"
  fi
  mkdir -p "$tools" && ln -sfn "$dest/$name" "$tools/$name"
}

build helm "$HELM_VERSION" "$hack/helm" \
  "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" helm.sh/helm/v3/cmd/helm
build kwok "$KWOK_VERSION" "$hack/kwok" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
"$tools/helm" version --short >&2
