# shellcheck shell=bash
# Shared by the build scripts; source it. It sets `hack` (this folder), reads the pinned versions,
# and sets `cache` (CACHE, else ~/.cache/checkout-operator) and `docker` (DOCKER, else docker)
# unless the script has set them already.
hack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$hack/versions.env"
: "${cache:=${CACHE:-$HOME/.cache/checkout-operator}}"
: "${docker:=${DOCKER:-docker}}"

# build_cached DEST MODULE_DIR LDFLAGS OUT PACKAGE...
# `go build` PACKAGE... of the module in MODULE_DIR into the folder DEST, once: a DEST that holds
# `.complete` is kept as it is, and a half-built folder never counts. OUT is the binary's name for
# one package, or "." for several (each named by go).
build_cached() {
  local dest=$1 module=$2 ldflags=$3 out=$4
  shift 4
  [ -f "$dest/.complete" ] && return 0
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  echo "building $(basename "$dest") (first time only; a few minutes)" >&2
  (cd "$module" && go build -ldflags "$ldflags" -o "$tmp/${out#.}" "$@")
  touch "$tmp/.complete"
  rm -rf "$dest" && mv "$tmp" "$dest"
}

# kube_ldflags: the linker flags that make Kubernetes binaries built from the module proxy report
# v$KUBE_VERSION (kubeadm and kind read it; without them it reads v0.0.0-master).
kube_ldflags() {
  local minor v=k8s.io/component-base/version
  minor=$(cut -d. -f2 <<<"$KUBE_VERSION")
  echo "-s -w -X $v.gitVersion=v$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor" \
    "-X $v.gitTreeState=clean -X $v.buildDate=$(date -u +%FT%TZ)" \
    "-X k8s.io/client-go/pkg/version.gitVersion=v$KUBE_VERSION"
}

# image_current IMAGE KEY: true when the Docker image IMAGE exists and was built from the inputs
# whose digest is KEY (its label org.example.checkout-operator.key), so it need not be built again.
image_label=org.example.checkout-operator.key
image_current() {
  [ "$(${DOCKER:-docker} image inspect --format "{{index .Config.Labels \"$image_label\"}}" "$1" \
    2>/dev/null)" = "$2" ]
}

# inputs_key WORD_OR_FILE...: a short digest of the given words and of the files and folders among
# them (their contents), the key of what is built from them.
inputs_key() {
  local item
  for item in "$@"; do
    if [ -d "$item" ]; then (cd "$item" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    elif [ -f "$item" ]; then sha256sum <"$item"
    else printf '%s\n' "$item"; fi
  done | sha256sum | cut -c1-12
}

# build_image IMAGE KEY CONTEXT [DOCKER_BUILD_FLAG...]: builds CONTEXT's Dockerfile as IMAGE,
# labelled with KEY (see image_current); the build's output goes to stderr only when it fails.
build_image() {
  local image=$1 key=$2 context=$3 log previous
  shift 3
  echo "building $image" >&2
  previous=$(${DOCKER:-docker} image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  log=$(mktemp)
  if ! ${DOCKER:-docker} build --label "$image_label=$key" --tag "$image" "$@" "$context" \
    >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  forget_image "$previous" "$image"
}

# forget_image ID IMAGE: removes ID, what IMAGE was before it was built again, unless it is still
# IMAGE or in use (a container, another tag): an image made again should not leave its old self.
forget_image() {
  [ -n "$1" ] || return 0
  [ "$(${DOCKER:-docker} image inspect --format '{{.Id}}' "$2" 2>/dev/null)" != "$1" ] || return 0
  ${DOCKER:-docker} image rm "$1" >/dev/null 2>&1 || true
}

# unmount_under DIR: unmounts whatever is mounted below DIR, deepest first. debootstrap and chroot
# mount /proc and /sys in their target, and a failed run may leave them mounted.
unmount_under() {
  awk -v root="$1/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mount; do umount -l "$mount" || true; done
}
