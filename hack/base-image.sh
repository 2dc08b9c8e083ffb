#!/usr/bin/env bash
# Makes the images' base locally, without pulling: Debian bookworm (debootstrap, minimal) with its
# python3 and venv, imported into Docker as checkout-operator/base:bookworm. The base trusts the
# same certificate authorities as this machine (a proxy's, say), so pip works inside `docker build`.
# Skipped when the image exists; the root filesystem is kept as a tarball in the cache, so a wiped
# Docker store gets it back in seconds.
set -euo pipefail
docker=${DOCKER:-docker}
image=${CHECKOUT_BASE_IMAGE:-checkout-operator/base:bookworm}
cache=${CACHE:-$HOME/.cache/checkout-operator}/base
tarball=$cache/bookworm-python3.tar
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if "$docker" image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
if [ ! -f "$tarball" ]; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  echo "making the base image's root filesystem (debootstrap; about a minute)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >&2
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >&2
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*
  mkdir -p "$cache"
  tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
fi
"$docker" import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' \
  "$tarball" "$image" >/dev/null
echo "$image"
