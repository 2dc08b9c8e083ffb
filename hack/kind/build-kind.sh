#!/usr/bin/env bash
# Builds the kind CLI from the Go module proxy, with kind-unprivileged.patch applied, into
#   $1/kind
# once per version and patch (cached next to that folder, as build-binaries.sh does).
# The patch adds one switch and changes nothing without it: KIND_EXPERIMENTAL_UNPRIVILEGED_NODES,
# for hosts that cannot grant every capability `docker run --privileged` asks for.
set -euo pipefail
dest=${1:?usage: build-kind.sh DEST_DIR}
hack=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib.sh
. "$hack/lib.sh"
patch=$hack/kind/kind-unprivileged.patch
out=$cache/kind-v$KIND_VERSION-$(inputs_key "$patch")
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

if [ ! -f "$out/.complete" ]; then
  # The module's own go.mod and go.sum pin its dependencies; build inside a patched copy of it
  # (the module cache is read-only).
  module=$(go mod download -json "sigs.k8s.io/kind@v$KIND_VERSION" | jq -r .Dir)
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r "$module/." "$src" && chmod -R u+w "$src"
  patch -s -d "$src" -p1 <"$patch"
  build_cached "$out" "$src" "-s -w" kind .
fi
mkdir -p "$dest" && ln -sfn "$out/kind" "$dest/kind"
"$dest/kind" version >&2
