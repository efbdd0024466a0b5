#!/usr/bin/env bash
# Runs this node's share of tests/cases.sh and writes JUnit XML to test-results/.
set -uo pipefail
# shellcheck source=/dev/null
source tests/cases.sh
node="${CIRCLE_NODE_INDEX:-0}"
total="${CIRCLE_NODE_TOTAL:-1}"
mapfile -t all < <(declare -F | awk '{print $3}' | grep '^test_' | sort)
mkdir -p test-results
out="test-results/junit-node-$node.xml"
cases="" failures=0 count=0 i=0
for t in "${all[@]}"; do
  if [ $((i % total)) -eq "$node" ]; then
    count=$((count + 1))
    start=$(date +%s.%N)
    if output=$("$t" 2>&1); then
      result=""
      echo "PASS $t"
    else
      failures=$((failures + 1))
      result="<failure message=\"$t failed\">$(printf '%s' "$output" | sed 's/&/\&amp;/g; s/</\&lt;/g')</failure>"
      echo "FAIL $t"
    fi
    time=$(echo "$(date +%s.%N) - $start" | awk '{printf "%.3f", $1 - $3}')
    cases+="    <testcase classname=\"demo.greet\" name=\"$t\" file=\"tests/cases.sh\" time=\"$time\">$result</testcase>"$'\n'
  fi
  i=$((i + 1))
done
{
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo "<testsuites><testsuite name=\"demo node $node\" tests=\"$count\" failures=\"$failures\">"
  printf '%s' "$cases"
  echo "</testsuite></testsuites>"
} > "$out"
echo "$count test(s), $failures failure(s) -> $out"
[ "$failures" -eq 0 ]
