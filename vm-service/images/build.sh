#!/usr/bin/env bash
# Builds drover/machine:latest (what a `local` vm-service machine runs) from the local Debian base
# that build-agent/images/build.sh makes. Skips it when it was built from the same context (label
# io.drover.context); DROVER_IMAGES_REBUILD=1 rebuilds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${DROVER_DEBIAN_SUITE:-bookworm}"
context_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
want="$(context_hash "$here/machine")"
have="$(docker image inspect -f '{{ index .Config.Labels "io.drover.context" }}' drover/machine:latest 2>/dev/null || true)"
if [ -z "${DROVER_IMAGES_REBUILD:-}" ] && [ "$have" = "$want" ]; then
  echo "images: drover/machine:latest exists"
  exit 0
fi
docker image inspect "drover/debian:$suite" >/dev/null 2>&1 ||
  { echo "images: drover/debian:$suite is missing (run build-agent/images/build.sh first)" >&2; exit 1; }
docker build -q --build-arg "BASE=drover/debian:$suite" --label "io.drover.context=$want" \
  -t drover/machine:latest "$here/machine" >/dev/null
echo "images: built drover/machine:latest"
