#!/usr/bin/env bash
# Runs every test suite and prints one summary line "N passed, M failed".
# Every suite is a program whose last line is "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
total_pass=0 total_fail=0 broken=0
declare -a report

suite() { # suite NAME ENV... -- CMD...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  local log; log=$(mktemp)
  echo "== $name"
  env "${envs[@]}" timeout 600 "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "!! $name printed no summary (exit $rc)"; broken=$((broken + 1)); total_fail=$((total_fail + 1))
  else
    local p f; p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$rc" != 0 ] && [ "$f" = 0 ] && { echo "!! $name exited $rc"; total_fail=$((total_fail + 1)); }
  fi
  report+=("$name: ${line:-no summary}")
  rm -f "$log"
}

for build in build build/asan; do
  tag=${build#build}; tag=${tag#/}; tag=${tag:-plain}
  for t in "$build"/tests/test_*; do
    [ -x "$t" ] && suite "unit[$tag] $(basename "$t")" X=1 -- "$t"
  done
  for t in tests/integration/test_*.py; do
    [ -f "$t" ] && suite "integration[$tag] $(basename "$t")" SNAKEPIT_BIN="$build/snakepit" -- "$PY" "$t"
  done
done
if [ -f tests/browser/run.sh ]; then
  suite "browser" X=1 -- tests/browser/run.sh
fi

echo
echo "== summary"
for r in "${report[@]}"; do echo "   $r"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
