#!/usr/bin/env bash
# Builds the local images jobs run on, since no registry can be pulled from:
#   drover/debian:bookworm  a debootstrap root imported with `docker import`
#   drover/ci-base:latest   git, bash, openssh-client, curl, the Docker CLI and compose (cimg/base's role)
#   drover/sandbox:latest   iproute2; blackholes the metadata address when the agent cannot nsenter
# Skips an image built from the same context (label io.drover.context). DROVER_IMAGES_REBUILD=1 rebuilds all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${DROVER_DEBIAN_SUITE:-bookworm}"
mirror="${DROVER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

have() { [ -z "${DROVER_IMAGES_REBUILD:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }
# A hash of a build context: an image built from an older context is rebuilt.
context_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
current() {
  have "$1" &&
    [ "$(docker image inspect -f '{{ index .Config.Labels "io.drover.context" }}' "$1" 2>/dev/null)" = "$(context_hash "$2")" ]
}

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

if current drover/ci-base:latest "$here/ci-base"; then
  echo "images: drover/ci-base:latest exists"
else
  docker build -q --build-arg "BASE=drover/debian:$suite" --label "io.drover.context=$(context_hash "$here/ci-base")" \
    -t drover/ci-base:latest "$here/ci-base" >/dev/null
  echo "images: built drover/ci-base:latest"
fi

if current drover/sandbox:latest "$here/sandbox"; then
  echo "images: drover/sandbox:latest exists"
else
  docker build -q --build-arg "BASE=drover/debian:$suite" --label "io.drover.context=$(context_hash "$here/sandbox")" \
    -t drover/sandbox:latest "$here/sandbox" >/dev/null
  echo "images: built drover/sandbox:latest"
fi
