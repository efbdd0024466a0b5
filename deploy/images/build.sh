#!/usr/bin/env bash
# Builds Drover's service images and the stand-ins the distributed stack's tests use, from the
# local Debian base (build-agent/images/build.sh makes it):
#   drover/control-plane, drover/output-processor, drover/vm-service, drover/runner  (one Dockerfile)
#   drover/postgres:15, drover/redis:7  Debian's PostgreSQL and Redis, for postgres:16 and redis:7
# Needs `npm run build` first (it ships dist/). An image built from the same context (label
# io.drover.context) is kept; DROVER_IMAGES_REBUILD=1 rebuilds all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
base="drover/debian:${DROVER_DEBIAN_SUITE:-bookworm}"
services=(control-plane output-processor vm-service runner)

have() { [ -z "${DROVER_IMAGES_REBUILD:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }
context_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
label_of() { docker image inspect -f '{{ index .Config.Labels "io.drover.context" }}' "$1" 2>/dev/null || true; }

docker image inspect "$base" >/dev/null 2>&1 || { echo "service images: $base is missing (build-agent/images/build.sh)" >&2; exit 1; }
[ -f "$repo/control-plane/cli/dist/main.js" ] || { echo "service images: run \`npm run build\` first" >&2; exit 1; }

for stand in postgres:15 redis:7; do
  name="${stand%%:*}"
  hash="$(context_hash "$here/$name")"
  if have "drover/$stand" && [ "$(label_of "drover/$stand")" = "$hash" ]; then
    echo "images: drover/$stand exists"
  else
    docker build -q --build-arg "BASE=$base" --label "io.drover.context=$hash" -t "drover/$stand" "$here/$name" >/dev/null
    echo "images: built drover/$stand"
  fi
done

# The context: the workspaces (dist, package.json, migrations; no tests) with production
# dependencies only, and Node 24 from the project's `node` dependency.
stage="$(mktemp -d /tmp/drover-images.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/app"
cp "$repo/package.json" "$repo/package-lock.json" "$stage/app/"
workspaces=$(node -e 'console.log(require(process.argv[1]).workspaces.join(" "))' "$repo/package.json")
for ws in $workspaces; do
  mkdir -p "$stage/app/$ws"
  tar -C "$repo/$ws" --exclude=node_modules --exclude=test --exclude=.drover --exclude='*.tsbuildinfo' \
    --exclude='./images' --exclude='./bench' -cf - . | tar -C "$stage/app/$ws" -xf -
done
cp "$(readlink -f "$repo/node_modules/node/bin/node")" "$stage/node"
cp "$here/drover/Dockerfile" "$stage/Dockerfile"
hash="$(context_hash "$stage")"
fresh=1
for s in "${services[@]}"; do
  have "drover/$s:latest" && [ "$(label_of "drover/$s:latest")" = "$hash" ] || fresh=0
done
if [ "$fresh" = 1 ]; then
  echo "images: drover/{${services[*]}} exist"
  exit 0
fi
echo "images: installing production dependencies for the service images"
(cd "$stage/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/tmp/drover-images-npm.log 2>&1) ||
  { tail -20 /tmp/drover-images-npm.log >&2; exit 1; }
for s in "${services[@]}"; do
  docker build -q --build-arg "BASE=$base" --label "io.drover.context=$hash" --target "$s" \
    -t "drover/$s:latest" "$stage" >/dev/null
  echo "images: built drover/$s:latest"
done
