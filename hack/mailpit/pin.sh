#!/usr/bin/env bash
# Regenerates package.json and package-lock.json here: those of Mailpit $MAILPIT_VERSION (from
# hack/versions.env), with the npm packages the registry does not serve replaced by ones it does.
# hack/kind/release-images.sh builds Mailpit's web view with exactly these packages.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
# For v1.33.1: rapidoc ^12 (only the API documentation page uses it) is not served, 9.3.8 is the
# newest that is; sass-embedded 1.108.1, named by the lock file, is not served, 1.108.2 is.
substitutes=(dependencies.rapidoc=9.3.8 overrides.sass-embedded=1.108.2)

module=$(go mod download -json "github.com/axllent/mailpit@v$MAILPIT_VERSION" | jq -r .Dir)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$module/package.json" "$module/package-lock.json" "$work" && chmod u+w "$work"/*
cd "$work"
note="Mailpit v$MAILPIT_VERSION's, with what the npm registry lacks replaced (hack/mailpit/pin.sh)"
npm pkg set "${substitutes[@]}" "//checkout-operator=$note"
npm install --package-lock-only --no-audit --no-fund --loglevel=error
cp package.json package-lock.json "$here"
echo "pinned Mailpit v$MAILPIT_VERSION's npm packages" >&2
