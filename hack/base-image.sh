#!/usr/bin/env bash
# Makes the images' base locally, without pulling: Debian bookworm (debootstrap, minimal) with its
# python3 and venv, imported into Docker as checkout-operator/base:bookworm, and prints its name.
# The base trusts the same certificate authorities as this machine (a proxy's, say), so pip works
# inside `docker build`.
# Skipped when the image exists and was made from the same inputs (the Debian suite, the packages,
# this machine's extra authorities). The root filesystem is kept as a tarball in the cache, so a
# wiped Docker store gets the image back in seconds instead of a debootstrap run (~40 s).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
image=${CHECKOUT_BASE_IMAGE:-checkout-operator/base:bookworm}
cache=${CACHE:-$HOME/.cache/checkout-operator}/base
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
packages=python3,python3-venv,ca-certificates
authorities=(/usr/local/share/ca-certificates/*.crt)
[ -e "${authorities[0]}" ] || authorities=()

# What the root filesystem is made of; a change of any of it makes a new one.
key=$({ echo "$suite $packages"; cat "${authorities[@]}" </dev/null; } | sha256sum | cut -c1-12)
tarball=$cache/$suite-python3-$key.tar
label=org.example.checkout-operator.base-key

if [ "$("$docker" image inspect --format "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null)" = "$key" ]; then
  echo "$image"
  exit 0
fi

if [ ! -f "$tarball" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "making the base image needs root (debootstrap, chroot): sudo $0" >&2
    exit 1
  fi
  command -v debootstrap >/dev/null || {
    echo "debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 1
  }
  rootfs=$(mktemp -d)
  cleanup() {
    unmount_under "$rootfs"
    rm -rf --one-file-system "$rootfs"
  }
  trap cleanup EXIT
  echo "making the base image's root filesystem (debootstrap $suite; about a minute)" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >&2
  if [ ${#authorities[@]} -gt 0 ]; then
    cp "${authorities[@]}" "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >&2
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*
  mkdir -p "$cache"
  tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp.$$" . && mv "$tarball.tmp.$$" "$tarball"
  # Tarballs of earlier inputs are of no more use.
  find "$cache" -maxdepth 1 -name "$suite-python3*.tar" ! -path "$tarball" -delete
fi

"$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change "LABEL $label=$key" \
  --change 'CMD ["python3"]' \
  "$tarball" "$image" >/dev/null
echo "$image"
