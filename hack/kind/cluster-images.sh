#!/usr/bin/env bash
# Builds the images a kind node runs for the cluster itself, with nothing pulled, and prints their
# names, one a line (the node image preloads them, so kubeadm and the add-ons never pull):
#   registry.k8s.io/kube-{apiserver,controller-manager,scheduler,proxy}:v$KUBE_VERSION
#   registry.k8s.io/etcd:$ETCD_VERSION        (kubeadm is given this tag instead of its default)
#   registry.k8s.io/pause:$PAUSE_VERSION      (Kubernetes' pause.c, compiled here)
#   checkout-operator/coredns:v$COREDNS_VERSION
#   checkout-operator/kube-router:v$KUBE_ROUTER_VERSION
#   checkout-operator/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION
#   checkout-operator/local-path-helper:v$LOCAL_PATH_PROVISIONER_VERSION  (busybox, its helper)
# The binaries come from the Go module proxy (built once per version into $CACHE), the rest from
# Debian. Each image is built only when missing or made from other inputs (its label
# org.example.checkout-operator.key); logs go to stderr.
set -euo pipefail
hack=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib.sh
. "$hack/lib.sh"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
images=$hack/kind/images
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

work=$(mktemp -d)
cleanup() {
  unmount_under "$work"
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# context NAME FILE...: a build context holding hack/kind/images/NAME and the FILEs (a link's
# target, hard-linked where it can be); prints its path.
context() {
  local dir=$work/$1 file
  rm -rf "$dir" && cp -r "$images/$1" "$dir"
  shift
  for file in "$@"; do
    file=$(readlink -f "$file")
    ln -f "$file" "$dir/" 2>/dev/null || cp "$file" "$dir/"
  done
  echo "$dir"
}

# binary_image IMAGE FOLDER BINARY [BASE]: IMAGE built from hack/kind/images/FOLDER and BINARY
# (on the image BASE, the Dockerfile's build argument), keyed by all of them; prints its name.
binary_image() {
  local image=$1 folder=$2 binary=$3 base=${4:-} key dir
  local flags=() base_id=
  if [ -n "$base" ]; then
    base_id=$("$docker" image inspect --format '{{.Id}}' "$base")
    flags=(--build-arg "BASE=$base")
  fi
  key=$(inputs_key "$images/$folder" "$binary" "$base_id")
  if ! image_current "$image" "$key"; then
    dir=$(context "$folder" "$binary")
    build_image "$image" "$key" "$dir" "${flags[@]}"
  fi
  echo "$image"
}

# go_binary NAME VERSION LDFLAGS PACKAGE: NAME built from the wrapper module hack/NAME, once per
# version, into $CACHE/NAME-vVERSION; prints the binary's path.
go_binary() {
  local dest=$cache/$1-v$2
  build_cached "$dest" "$hack/$1" "$3" "$1" "$4"
  echo "$dest/$1"
}

# netfilter_base: the root kube-proxy and kube-router run on, Debian (debootstrap, minimal) with
# iptables, ipset and conntrack, imported into Docker as checkout-operator/netfilter:bookworm; not
# one of the cluster's images, only their base. The root filesystem is kept as a tarball in the
# cache, so a wiped Docker store gets the image back in seconds instead of a debootstrap run.
netfilter_base() {
  local image=checkout-operator/netfilter:bookworm suite=bookworm packages=iptables,ipset,conntrack
  local key tarball rootfs=$work/netfilter
  key=$(inputs_key "$suite $packages")
  tarball=$cache/netfilter/$suite-$key.tar
  if ! image_current "$image" "$key"; then
    if [ ! -f "$tarball" ]; then
      if [ "$(id -u)" != 0 ]; then
        echo "making the netfilter tools' root filesystem needs root (debootstrap): sudo $0" >&2
        exit 1
      fi
      echo "making the netfilter tools' root filesystem (debootstrap $suite; about a minute)" >&2
      debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >&2
      chroot "$rootfs" apt-get clean >&2
      rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*
      mkdir -p "$(dirname "$tarball")"
      tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp.$$" . && mv "$tarball.tmp.$$" "$tarball"
      rm -rf --one-file-system "$rootfs"
      # Tarballs of earlier inputs are of no more use.
      find "$(dirname "$tarball")" -maxdepth 1 -name "$suite-*.tar" ! -path "$tarball" -delete
    fi
    echo "importing $image" >&2
    "$docker" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL $image_label=$key" "$tarball" "$image" >/dev/null
  fi
  echo "$image"
}

# The control plane: the binaries build-binaries.sh makes (and caches) for the tests, each alone.
assets=$cache/assets/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION
"$hack/build-binaries.sh" "$assets" >&2
for name in kube-apiserver kube-controller-manager kube-scheduler; do
  binary_image "registry.k8s.io/$name:v$KUBE_VERSION" "$name" "$assets/$name"
done
binary_image "registry.k8s.io/etcd:$ETCD_VERSION" etcd "$assets/etcd"

# kube-proxy, on the netfilter tools.
"$hack/kind/node-binaries.sh" "$work/node" >&2
netfilter=$(netfilter_base)
binary_image "registry.k8s.io/kube-proxy:v$KUBE_VERSION" kube-proxy "$work/node/kube-proxy" \
  "$netfilter"

# pause, from the Kubernetes module's source, compiled as upstream's Makefile does it (its version
# string: the pause version and the Kubernetes release it comes with).
image=registry.k8s.io/pause:$PAUSE_VERSION
kubernetes=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | jq -r .Dir)
source=$kubernetes/build/pause/linux/pause.c
cflags="-Os -Wall -Werror -static -DVERSION=v$PAUSE_VERSION-v$KUBE_VERSION"
key=$(inputs_key "$images/pause" "$source" "$cflags" "$(gcc --version | head -n 1)")
if ! image_current "$image" "$key"; then
  dir=$(context pause)
  # shellcheck disable=SC2086 # the flags are words
  gcc $cflags -o "$dir/pause" "$source"
  build_image "$image" "$key" "$dir"
fi
echo "$image"

# The add-ons, each from its wrapper module (hack/coredns, hack/kube-router,
# hack/local-path-provisioner) with its project's version flags. CoreDNS has none for the version
# (a constant in its source), only for a git commit, which a module does not carry.
coredns=$(go_binary coredns "$COREDNS_VERSION" "-s -w" github.com/coredns/coredns)
binary_image "checkout-operator/coredns:v$COREDNS_VERSION" coredns "$coredns"
kr=github.com/cloudnativelabs/kube-router/v2
kube_router=$(go_binary kube-router "$KUBE_ROUTER_VERSION" \
  "-s -w -X $kr/pkg/version.Version=v$KUBE_ROUTER_VERSION \
   -X $kr/pkg/version.BuildDate=$(date -u +%FT%TZ)" "$kr/cmd/kube-router")
binary_image "checkout-operator/kube-router:v$KUBE_ROUTER_VERSION" kube-router "$kube_router" \
  "$netfilter"
provisioner=$(go_binary local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" \
  "-s -w -X main.VERSION=v$LOCAL_PATH_PROVISIONER_VERSION" \
  github.com/rancher/local-path-provisioner)
binary_image "checkout-operator/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION" \
  local-path-provisioner "$provisioner"

# The provisioner's helper: Debian's busybox-static (the candidate version apt knows of), its
# applets as links in /bin.
image=checkout-operator/local-path-helper:v$LOCAL_PATH_PROVISIONER_VERSION
package=$(apt-cache show --no-all-versions busybox-static 2>/dev/null |
  grep -E '^(Version|SHA256):' || true)
[ -n "$package" ] || {
  echo "apt knows no busybox-static package (apt-get update?)" >&2
  exit 1
}
key=$(inputs_key "$images/local-path-helper" "$package")
if ! image_current "$image" "$key"; then
  dir=$(context local-path-helper)
  sandbox=()
  [ "$(id -u)" != 0 ] || sandbox=(-o APT::Sandbox::User=root)  # root downloads into $work itself
  (cd "$work" && apt-get download -q "${sandbox[@]}" busybox-static >&2)
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
  mkdir -p "$dir/rootfs/bin"
  cp "$work/busybox/bin/busybox" "$dir/rootfs/bin/busybox"
  for applet in $("$dir/rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/rootfs/bin/$applet"
  done
  build_image "$image" "$key" "$dir"
fi
echo "$image"
