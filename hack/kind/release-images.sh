#!/usr/bin/env bash
# Builds the third-party images the chart runs, with nothing pulled, for a cluster that cannot
# reach Docker Hub, and prints their names:
#   checkout-operator/nats:$NATS_VERSION         nats-server from the Go module proxy, alone
#   checkout-operator/postgresql:15              Debian bookworm's PostgreSQL, on the local base
#   checkout-operator/mailpit:v$MAILPIT_VERSION  Mailpit from the Go module proxy, web view included
# Each image is built only when missing or made from other inputs; the binaries are built once per
# version into $CACHE. With VALUES_FILE, also writes the Helm values that point the chart at them
# (the chart's defaults stay the upstream images):
#   helm upgrade --install ... -f VALUES_FILE
set -euo pipefail
values=${1:-}
hack=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib.sh
. "$hack/lib.sh"
base=${CHECKOUT_BASE_IMAGE:-checkout-operator/base:bookworm}
images=$hack/kind/images
pg_major=15  # Debian bookworm's PostgreSQL
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

nats=checkout-operator/nats:$NATS_VERSION
postgresql=checkout-operator/postgresql:$pg_major
mailpit=checkout-operator/mailpit:v$MAILPIT_VERSION

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# context NAME BINARY FOLDER MODE: a build context holding hack/kind/images/NAME and rootfs/, the
# image's files: the binary and an empty FOLDER of that MODE (a mount point); prints its path.
context() {
  local dir=$work/$1
  mkdir -p "$dir/rootfs/$3" && chmod "$4" "$dir/rootfs/$3"
  cp -r "$images/$1/." "$dir" && cp "$2" "$dir/rootfs"
  echo "$dir"
}

# NATS: the wrapper module hack/nats pins nats-server and its dependencies.
nats_bin=$cache/nats-server-v$NATS_VERSION
build_cached "$nats_bin" "$hack/nats" "-s -w" nats-server github.com/nats-io/nats-server/v2
key=$(inputs_key "$images/nats" "$nats_bin/nats-server")
if ! image_current "$nats" "$key"; then
  dir=$(context nats "$nats_bin/nats-server" data 0755)
  build_image "$nats" "$key" "$dir"
fi

# Mailpit: its own go.mod and go.sum pin its dependencies, so it is built inside a copy of its
# module (the module cache is read-only), once the web view's bundle is made there: the module
# does not ship it (server/ui/dist, made by esbuild from npm packages). Those packages are pinned
# by hack/mailpit's package-lock.json, Mailpit's own but for what the npm registry does not serve;
# a change of them makes another binary.
npm_pin=$hack/mailpit
grep -q "Mailpit v$MAILPIT_VERSION's" "$npm_pin/package.json" || {
  echo "$npm_pin is not for Mailpit v$MAILPIT_VERSION: run hack/mailpit/pin.sh" >&2
  exit 1
}
npm_key=$(inputs_key "$npm_pin/package.json" "$npm_pin/package-lock.json")
mailpit_bin=$cache/mailpit-v$MAILPIT_VERSION-$npm_key
if [ ! -f "$mailpit_bin/.complete" ]; then
  command -v npm >/dev/null || {
    echo "npm is needed to build Mailpit's web view: install Node.js (apt-get install npm)" >&2
    exit 1
  }
  module=$(go mod download -json "github.com/axllent/mailpit@v$MAILPIT_VERSION" | jq -r .Dir)
  src=$work/mailpit-src
  mkdir -p "$src" && cp -r "$module/." "$src" && chmod -R u+w "$src"
  cp "$npm_pin/package.json" "$npm_pin/package-lock.json" "$src"
  # `npm install` of exactly the lock file's packages: `npm ci` would refuse it, as it lacks the
  # optional packages of other platforms that the registry does not serve.
  echo "building Mailpit's web view (npm install, esbuild)" >&2
  (cd "$src" && npm install --no-save --no-audit --no-fund --loglevel=error >&2 &&
    npm run package >&2)
  [ -f "$src/server/ui/dist/app.js" ] || {
    echo "Mailpit's web view was not built (no server/ui/dist/app.js)" >&2
    exit 1
  }
  # timetzdata: the image has no zoneinfo, and TZ should still work.
  build_cached "$mailpit_bin" "$src" \
    "-s -w -X github.com/axllent/mailpit/config.Version=v$MAILPIT_VERSION" mailpit \
    -tags=timetzdata .
fi
key=$(inputs_key "$images/mailpit" "$mailpit_bin/mailpit")
if ! image_current "$mailpit" "$key"; then
  dir=$(context mailpit "$mailpit_bin/mailpit" tmp 1777)
  build_image "$mailpit" "$key" "$dir"
fi

# PostgreSQL: Debian's packages, installed by `docker build` on the local base (never pulled).
base_id=$("$docker" image inspect --format '{{.Id}}' "$base" 2>/dev/null) || {
  echo "no base image $base: make it with hack/base-image.sh (make base-image)" >&2
  exit 1
}
key=$(inputs_key "$images/postgresql" "$base_id" "$pg_major")
if ! image_current "$postgresql" "$key"; then
  build_image "$postgresql" "$key" "$images/postgresql" \
    --build-arg "BASE_IMAGE=$base" --build-arg "PG_MAJOR=$pg_major"
fi

if [ -n "$values" ]; then
  mkdir -p "$(dirname "$values")"
  cat >"$values" <<EOF
# The chart's third-party images, built locally by hack/kind/release-images.sh.
nats:
  image: {repository: ${nats%:*}, tag: "${nats##*:}", pullPolicy: IfNotPresent}
postgresql:
  image: {repository: ${postgresql%:*}, tag: "${postgresql##*:}", pullPolicy: IfNotPresent}
mailpit:
  image: {repository: ${mailpit%:*}, tag: "${mailpit##*:}", pullPolicy: IfNotPresent}
EOF
fi
printf '%s\n' "$nats" "$postgresql" "$mailpit"
