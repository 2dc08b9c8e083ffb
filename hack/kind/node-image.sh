#!/usr/bin/env bash
# Makes kind's node image for Kubernetes $KUBE_VERSION here, with nothing pulled, and prints its
# name. `kind build node-image` cannot: it pulls its base and the control plane's images and only
# warns when a pull fails, so offline it "succeeds" with a broken image. This does what kind's base
# Dockerfile and node-image build do, from Debian's packages and what this repository builds:
#   1. a Debian root (debootstrap) with systemd, containerd, runc, iptables and the CNI plugins;
#   2. kind's own base files (from the kind module: entrypoint, units, containerd config);
#   3. kubeadm, kubelet and kubectl built here, a static bridge CNI config, kind's default
#      storage (local-path-provisioner) as /kind/manifests/default-storage.yaml, and a boot unit
#      that keeps the node's traffic on kind's network (node/confine-egress);
#   4. every image the cluster itself runs (control plane, kube-proxy, pause, CoreDNS, kube-router,
#      the storage provisioner) imported into the node's containerd, pinned, so nothing is pulled.
# The image is made again only when one of those inputs changed (label org.example.checkout-operator.key);
# the Debian root is cached as a tarball.
set -euo pipefail
hack=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib.sh
. "$hack/lib.sh"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
image=${KIND_NODE_IMAGE:-checkout-operator/kind-node:v$KUBE_VERSION}
node=$hack/kind/node
suite=bookworm
# What kind's base image installs, less what a single offline node never uses (NFS, iSCSI,
# fuse-overlayfs for rootless hosts), plus containerd, runc and the CNI plugins from Debian.
packages=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,ipset,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins

# What goes in: the binaries, the images (by id), kind's files and ours.
bin=$cache/kind-node-bin
"$hack/kind/node-binaries.sh" "$bin" >&2
kubectl=${KUBEBUILDER_ASSETS:?no control-plane binaries: run make binaries}/kubectl
cluster_images=$("$hack/kind/cluster-images.sh")
mapfile -t images <<<"$cluster_images"
kind_module=$(go mod download -json "sigs.k8s.io/kind@v$KIND_VERSION" | jq -r .Dir)
ids=$(for i in "${images[@]}"; do "$docker" image inspect --format '{{.Id}}' "$i"; done)
rootfs_key=$(inputs_key "$suite $packages")
key=$(inputs_key "$rootfs_key" "$ids" "$bin/kubelet" "$bin/kubeadm" "$kubectl" \
  "$kind_module/images/base/files" "$node" "$hack/kind/manifests/default-storage.yaml" "$0")
if image_current "$image" "$key"; then
  echo "$image"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "making the node image needs root (debootstrap, chroot, a containerd of its own): sudo $0" >&2
  exit 1
fi
work=$(mktemp -d "$cache/kind-node.XXXXXX")
containerd_pid=
cleanup() {
  [ -z "$containerd_pid" ] || { kill "$containerd_pid" 2>/dev/null; wait "$containerd_pid" || true; }
  unmount_under "$work"
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# 1. The Debian root, cached.
tarball=$cache/kind-node-rootfs-$suite-$rootfs_key.tar
if [ ! -f "$tarball" ]; then
  echo "making the node's root filesystem (debootstrap $suite; a few minutes)" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$work/debootstrap" "$mirror" >&2
  chroot "$work/debootstrap" apt-get clean
  unmount_under "$work/debootstrap"
  rm -rf "$work"/debootstrap/var/lib/apt/lists/* "$work"/debootstrap/usr/share/{doc,man,info,locale}/*
  tar --numeric-owner -C "$work/debootstrap" -cf "$tarball.tmp.$$" . && mv "$tarball.tmp.$$" "$tarball"
  rm -rf --one-file-system "$work/debootstrap"
  find "$cache" -maxdepth 1 -name "kind-node-rootfs-*.tar" ! -path "$tarball" -delete
fi
root=$work/root
mkdir -p "$root" && tar --numeric-owner -C "$root" -xf "$tarball"

# 2. kind's base: its files, and what its Dockerfile does with them.
files=$kind_module/images/base/files
install -m 0755 "$files"/usr/local/bin/* "$root/usr/local/bin/"
mkdir -p "$root/kind/bin" "$root/LICENSES"
cp -r "$files/kind/." "$root/kind/" && chmod 0755 "$root"/kind/bin/*
cp "$files"/etc/crictl.yaml "$root/etc/"
install -m 0644 "$files"/etc/containerd/* "$root/etc/containerd/"
install -m 0644 "$files"/etc/default/* "$root/etc/default/"
install -m 0644 "$files"/etc/sysctl.d/* "$root/etc/sysctl.d/"
mkdir -p "$root/etc/systemd/system/kubelet.service.d"
find "$files/etc/systemd/system" -maxdepth 1 -type f -exec install -m 0644 {} "$root/etc/systemd/system/" \;
install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"
find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
  "$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
  "$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$root/etc/systemd/journald.conf"
# kind's units expect containerd and runc where its base image builds them.
ln -sf /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2 "$root/usr/local/bin/"
ln -sf /usr/sbin/runc "$root/usr/local/sbin/runc"
chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >&2
chroot "$root" systemctl mask systemd-binfmt.service >&2
chroot "$root" ctr oci spec |
  jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
  jq 'del(.process.rlimits)' >"$root/etc/containerd/cri-base.json"
mkdir -p "$root/etc/kubernetes/manifests"

# 3. The Kubernetes node.
install -m 0755 "$bin/kubeadm" "$bin/kubelet" "$kubectl" "$root/usr/bin/"
echo "v$KUBE_VERSION" >"$root/kind/version"
mkdir -p "$root/opt/cni/bin" "$root/etc/cni/net.d" "$root/kind/manifests"
for plugin in "$root"/usr/lib/cni/*; do ln -sf "/usr/lib/cni/${plugin##*/}" "$root/opt/cni/bin/"; done
install -m 0644 "$node/10-bridge.conflist" "$root/etc/cni/net.d/"
install -m 0644 "$hack/kind/manifests/default-storage.yaml" "$root/kind/manifests/default-storage.yaml"
install -m 0755 "$node/unprivileged-entrypoint" "$root/usr/local/bin/"
install -m 0755 "$node/confine-egress" "$root/kind/bin/"
install -m 0644 "$node/confine-egress.service" "$root/etc/systemd/system/"
chroot "$root" systemctl enable confine-egress.service >&2
sed -i "s|sandbox_image = .*|sandbox_image = \"registry.k8s.io/pause:$PAUSE_VERSION\"|" \
  "$root/etc/containerd/config.toml"

# 4. The images, imported by a containerd of our own whose root is the node's.
mkdir -p "$work/state"
cat >"$work/containerd.toml" <<CONFIG
version = 2
root = "$root/var/lib/containerd"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
CONFIG
containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 1 50); do [ -S "$work/containerd.sock" ] && break; sleep 0.2; done
echo "importing ${#images[@]} images into the node" >&2
"$docker" save "${images[@]}" |
  ctr --address "$work/containerd.sock" --namespace k8s.io images import \
    --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >&2
kill "$containerd_pid"
wait "$containerd_pid" || true
containerd_pid=

# 5. Into Docker: `docker import` cannot set STOPSIGNAL, a one-line build on top does.
previous=$("$docker" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
echo "importing the node image into Docker (about a minute)" >&2
tar --numeric-owner -C "$root" -c . |
  "$docker" import --change 'ENV container=docker' \
    --change 'ENTRYPOINT ["/usr/local/bin/unprivileged-entrypoint", "/sbin/init"]' - "$image-rootfs" >/dev/null
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$image-rootfs" |
  "$docker" build --quiet --label "$image_label=$key" --tag "$image" - >/dev/null
"$docker" image rm "$image-rootfs" >/dev/null
forget_image "$previous" "$image"
echo "$image"
