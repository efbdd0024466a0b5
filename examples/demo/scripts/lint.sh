#!/usr/bin/env bash
# Syntax-checks every shell script.
set -euo pipefail
status=0
for f in scripts/*.sh src/*.sh tests/*.sh; do
  if bash -n "$f"; then echo "ok   $f"; else echo "FAIL $f"; status=1; fi
done
exit $status
