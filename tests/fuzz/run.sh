#!/usr/bin/env bash
# Runs the fuzz targets built by tests/fuzz/Makefile.
#
#   run.sh run SECS NAME...   fuzz each target for SECS seconds, one after
#                             the other, on a copy of its corpus in
#                             build/fuzz/run/NAME/corpus (the committed
#                             corpus never grows by itself); prints the
#                             executions and any crash file; fails on a crash
#   run.sh check 0 NAME...    run every committed input once; the last line
#                             is "N passed, M failed" like every test suite
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/fuzz
mode=$1
secs=$2
shift 2

# Per-target options. The HTTP limit is 8 KiB of head, so its inputs must be
# able to go past it; WebSocket messages are limited to 4096 bytes, so its
# inputs must be able to exceed that too.
opts() {
  case $1 in
  http) echo "-max_len=20000" ;;
  ws) echo "-max_len=12000" ;;
  proto) echo "-max_len=8192" ;;
  esac
}
dict() {
  [ -f "$here/$1.dict" ] && echo "-dict=$here/$1.dict"
}

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0

if [ "$mode" = run ]; then
  for t in "$@"; do
    bin=$out/fuzz_$t
    work=$out/run/$t
    rm -rf "$work/artifacts"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp "$here/corpus/$t/"* "$work/corpus/"
    start=$(date +%s)
    # shellcheck disable=SC2046
    "$bin" $(opts "$t") $(dict "$t") -max_total_time="$secs" \
      -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" |
      tail -n 1 | grep -o '[0-9]*$')
    echo "fuzz_$t: ${execs:-?} executions in ${took}s (exit $rc, log $work/log)"
    found=$(ls -A "$work/artifacts")
    if [ "$rc" != 0 ] || [ -n "$found" ]; then
      status=1
      for f in $found; do echo "  CRASH: $work/artifacts/$f"; done
      grep -E '^==[0-9]+==ERROR|SUMMARY|fuzz check failed|runtime error|ALARM|deadly signal' \
        "$work/log" | head -n 5 | sed 's/^/  /'
    fi
  done
  exit $status
fi

if [ "$mode" = check ]; then
  pass=0 fail=0
  for t in "$@"; do
    bin=$out/fuzz_$t
    for f in "$here/corpus/$t/"*; do
      if log=$("$bin" -timeout=5 -rss_limit_mb=2048 "$f" 2>&1); then
        pass=$((pass + 1))
      else
        fail=$((fail + 1))
        echo "FAIL fuzz_$t ${f#"$root"/}"
        echo "$log" | grep -E '==ERROR|SUMMARY|fuzz check failed|runtime error|ALARM|deadly signal' |
          head -n 3 | sed 's/^/  /'
      fi
    done
    echo "fuzz_$t: corpus checked"
  done
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]
  exit
fi

echo "usage: run.sh run SECS NAME... | run.sh check 0 NAME..." >&2
exit 2
