#!/usr/bin/env bash
# Builds the tools the chart's tests need from the Go module proxy: helm and kwok, into
#   $1/{helm,kwok}
# Each is built once per version and cached next to that folder, as build-binaries.sh does.
set -euo pipefail
tools=${1:?usage: build-tools.sh TOOLS_DIR}
hack=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$hack/lib.sh"
cache=$(dirname "$tools")
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

tool() {  # tool NAME VERSION LDFLAGS PACKAGE: built once into the cache, linked into $tools
  local name=$1 version=$2 ldflags=$3
  local dest=$cache/$name-v$version
  # The flags are part of what is cached (they set what `helm version` and `helm template` say):
  # a folder built with other flags, or before they were recorded, is built again.
  if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.ldflags" 2>/dev/null)" != "$ldflags" ]; then
    rm -f "$dest/.complete"
  fi
  build_cached "$dest" "$hack/$name" "$ldflags" "$name" "$4"
  [ -f "$dest/.ldflags" ] || printf '%s\n' "$ldflags" >"$dest/.ldflags"
  mkdir -p "$tools" && ln -sfn "$dest/$name" "$tools/$name"
}

# As helm's own Makefile does: besides the version, the Kubernetes version `helm template` and
# `helm lint` assume without a cluster, derived from the client-go it is built with (v0.37 -> 1.37);
# left out, both would assume 1.20.
client_go=$(cd "$hack/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)
kube_major=$(($(cut -d. -f1 <<<"${client_go#v}") + 1)) kube_minor=$(cut -d. -f2 <<<"$client_go")
h=helm.sh/helm/v3
tool helm "$HELM_VERSION" \
  "-s -w -X $h/internal/version.version=v$HELM_VERSION \
   -X $h/pkg/lint/rules.k8sVersionMajor=$kube_major -X $h/pkg/lint/rules.k8sVersionMinor=$kube_minor \
   -X $h/pkg/chartutil.k8sVersionMajor=$kube_major -X $h/pkg/chartutil.k8sVersionMinor=$kube_minor" \
  $h/cmd/helm
tool kwok "$KWOK_VERSION" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
"$tools/helm" version --short >&2
