#!/usr/bin/env bash
# Builds the local images jobs run on, since no registry can be pulled from:
#   drover/debian:bookworm  a debootstrap root imported with `docker import`
#   drover/ci-base:latest   git, bash, openssh-client, curl, ca-certificates (cimg/base's role)
#   drover/sandbox:latest   iproute2; blackholes the metadata address when the agent cannot nsenter
# Skips any image that already exists. Set DROVER_IMAGES_REBUILD=1 to rebuild.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${DROVER_DEBIAN_SUITE:-bookworm}"
mirror="${DROVER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

have() { [ -z "${DROVER_IMAGES_REBUILD:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

if ! docker info >/dev/null 2>&1; then
  echo "images: no Docker engine answers (start dockerd first)" >&2
  exit 1
fi

if have "drover/debian:$suite"; then
  echo "images: drover/debian:$suite exists"
else
  command -v debootstrap >/dev/null || { echo "images: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  root="$(mktemp -d /tmp/drover-rootfs.XXXXXX)"
  trap 'rm -rf "$root"' EXIT
  echo "images: debootstrap $suite (about a minute)"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >/tmp/drover-debootstrap.log 2>&1 ||
    { tail -20 /tmp/drover-debootstrap.log >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "drover/debian:$suite" >/dev/null
  echo "images: built drover/debian:$suite"
fi

if have drover/ci-base:latest; then
  echo "images: drover/ci-base:latest exists"
else
  docker build -q --build-arg "BASE=drover/debian:$suite" -t drover/ci-base:latest "$here/ci-base" >/dev/null
  echo "images: built drover/ci-base:latest"
fi

if have drover/sandbox:latest; then
  echo "images: drover/sandbox:latest exists"
else
  docker build -q --build-arg "BASE=drover/debian:$suite" -t drover/sandbox:latest "$here/sandbox" >/dev/null
  echo "images: built drover/sandbox:latest"
fi
