#!/usr/bin/env bash
# Builds drover/machine:latest (what a `local` vm-service machine runs) from the local Debian base
# that build-agent/images/build.sh makes. Skips it when it exists; DROVER_IMAGES_REBUILD=1 rebuilds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${DROVER_DEBIAN_SUITE:-bookworm}"
if [ -z "${DROVER_IMAGES_REBUILD:-}" ] && docker image inspect drover/machine:latest >/dev/null 2>&1; then
  echo "images: drover/machine:latest exists"
  exit 0
fi
docker image inspect "drover/debian:$suite" >/dev/null 2>&1 ||
  { echo "images: drover/debian:$suite is missing (run build-agent/images/build.sh first)" >&2; exit 1; }
docker build -q --build-arg "BASE=drover/debian:$suite" -t drover/machine:latest "$here/machine" >/dev/null
echo "images: built drover/machine:latest"
