#!/usr/bin/env bash
# "Downloads" the dependencies listed in deps.txt into ~/.demo-deps, unless the cache restored them.
set -euo pipefail
dir="$HOME/.demo-deps"
if [ -f "$dir/greeting-lib" ]; then
  echo "dependencies restored from cache: $(ls "$dir")"
  exit 0
fi
mkdir -p "$dir"
while read -r name version; do
  echo "installing $name $version"
  cat > "$dir/$name" <<LIB
# $name $version
greet() { echo "Hello, \$1!"; }
LIB
  sleep 1 # pretend this is slow: the cache makes the next build skip it
done < deps.txt
