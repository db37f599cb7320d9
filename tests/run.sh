#!/usr/bin/env bash
# Runs every test suite and prints one summary line "N passed, M failed".
# Every suite is a program whose last line is "N passed, M failed".
#   unit         the C unit tests, plain and under ASan+UBSan
#   integration  the real binary with Python websockets: plain with 1 and
#                with 2 worker loops, under ASan+UBSan, and under TSan
#   browser      headless Chromium driving the web client
#   fuzz         every fuzz target over its committed corpus, once
# Set SUITES="unit integration" (etc.) to run only some.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
SUITES=${SUITES:-unit integration browser fuzz}
total_pass=0 total_fail=0
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
    echo "!! $name printed no summary (exit $rc)"; total_fail=$((total_fail + 1))
  else
    local p f; p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$rc" != 0 ] && [ "$f" = 0 ] && { echo "!! $name exited $rc"; total_fail=$((total_fail + 1)); }
  fi
  report+=("$name: ${line:-no summary}")
  rm -f "$log"
}

has() { case " $SUITES " in *" $1 "*) return 0 ;; esac; return 1; }

integration() { # integration TAG BINARY WORKERS [ENV...]
  local tag=$1 bin=$2 workers=$3; shift 3
  for t in tests/integration/test_*.py; do
    [ -f "$t" ] && suite "integration[$tag] $(basename "$t")" SNAKEPIT_BIN="$bin" \
      SNAKEPIT_WORKERS="$workers" "$@" -- "$PY" "$t"
  done
}

if has unit; then
  for build in build build/asan; do
    tag=${build#build}; tag=${tag#/}; tag=${tag:-plain}
    for t in "$build"/tests/test_*; do
      [ -x "$t" ] && suite "unit[$tag] $(basename "$t")" X=1 -- "$t"
    done
  done
fi
if has integration; then
  integration "1 worker" build/snakepit 1
  integration "2 workers" build/snakepit 2
  integration "asan" build/asan/snakepit 2
  [ -x build/tsan/snakepit ] && integration "tsan" build/tsan/snakepit 2 \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
fi
if has browser && [ -x tests/browser/run.sh ]; then
  suite "browser" X=1 -- tests/browser/run.sh
fi
if has fuzz && [ -f tests/fuzz/Makefile ]; then
  suite "fuzz corpus" X=1 -- make --no-print-directory -s -C tests/fuzz check
fi

echo
echo "== summary"
for r in "${report[@]}"; do echo "   $r"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
