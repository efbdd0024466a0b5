#!/usr/bin/env bash
# Builds dist/: the program, its dependencies and a version stamp.
set -euo pipefail
rm -rf dist && mkdir -p dist
cp src/greet.sh dist/greet && chmod +x dist/greet
cp "$HOME/.demo-deps/greeting-lib" dist/greeting-lib
git rev-parse --short HEAD > dist/VERSION
echo "built dist/ at $(cat dist/VERSION)"
