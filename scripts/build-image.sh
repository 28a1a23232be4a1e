#!/usr/bin/env bash
# `make image`: build Wharf's container image with podman, without pulling from any image registry.
# The base is a minimal Debian root file system made by debootstrap from the machine's own apt mirror,
# imported once as localhost/wharf-base:bookworm; the Containerfile builds on it.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=localhost/wharf-base:bookworm
PODMAN=(podman --storage-driver "${STORAGE_DRIVER:-vfs}")

if ! "${PODMAN[@]}" image exists "$BASE"; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
           | grep -oE '^(URIs:|deb) +[^ ]+' | awk '{print $2}' | grep -v security | head -1 || true)
  rootfs=$(mktemp -d /tmp/wharf-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' - "$BASE"
fi

# A RUN step needs chroot isolation on hosts whose cgroups crun cannot drive; try the default first.
build=("${PODMAN[@]}" build --build-arg "BASE=$BASE" --secret "id=cacert,src=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
       -t localhost/wharf:latest -f Containerfile .)
"${build[@]}" || "${build[@]}" --isolation chroot
