#!/usr/bin/env bash
# greet NAME: prints a greeting using the installed greeting library.
set -euo pipefail
lib="${DEMO_DEPS:-$HOME/.demo-deps}/greeting-lib"
# shellcheck source=/dev/null
source "$lib"
greet "${1:-world}"
