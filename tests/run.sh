#!/usr/bin/env bash
# Runs every test suite and prints one summary line "N passed, M failed".
# Every suite is a program whose last line is "N passed, M failed".
#   unit         the C unit tests, plain and under ASan+UBSan; those of
#                the pieces shared between threads also under TSan
#   integration  the real binary with Python websockets: every file with 2
#                worker loops and under ASan+UBSan; some with 1 loop and
#                under TSan (see the lists below)
#   install      make install, the systemd units, the Debian package and its
#                service started as the unit would (once, not per build)
#   browser      headless Chromium driving the web client
#   fuzz         every fuzz target over its committed corpus, once
#   cluster      src/cluster against real redis-server, the shipped
#                haproxy.cfg and its Lua with real haproxy, and
#                scripts/cluster.sh: plain, and under ASan+UBSan (and the
#                thread-safe readers under TSan); and the whole cluster
#                end to end (Redis, 3 nodes, HAProxy, players through it,
#                every failure of a node and of Redis), plain and ASan
# Set SUITES="unit integration" (etc.) to run only some.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
SUITES=${SUITES:-unit integration install browser fuzz cluster}
total_pass=0 total_fail=0
declare -a report

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Runs a suite: its output and exit code go to files.
run_one() { # run_one ID ENV... -- CMD...
  local id=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  local t0=$SECONDS
  env "${envs[@]}" timeout 600 "$@" >"$TMP/$id.log" 2>&1
  echo $? >"$TMP/$id.rc"
  echo $((SECONDS - t0)) >"$TMP/$id.secs"
}

# The same in the background.
start() { # start ID ENV... -- CMD...
  run_one "$@" &
}

# Prints a finished suite's output and adds its summary line to the total.
collect() { # collect ID NAME
  local id=$1 name=$2 rc line p f
  echo "== $name"
  cat "$TMP/$id.log"
  rc=$(cat "$TMP/$id.rc" 2>/dev/null || echo 1)
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$TMP/$id.log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "!! $name printed no summary (exit $rc)"; total_fail=$((total_fail + 1))
  else
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$rc" != 0 ] && [ "$f" = 0 ] && { echo "!! $name exited $rc"; total_fail=$((total_fail + 1)); }
  fi
  report+=("$name: ${line:-no summary} ($(cat "$TMP/$id.secs" 2>/dev/null || echo '?') s)")
}

suite() { # suite NAME ENV... -- CMD...   (in the foreground)
  local name=$1; shift
  start one "$@"
  wait
  collect one "$name"
}

has() { case " $SUITES " in *" $1 "*) return 0 ;; esac; return 1; }

# The integration files of one build run JOBS at a time: each starts its
# own server on its own port, and most of their time is spent waiting on
# game ticks and timeouts, not on the CPU. The files in SERIAL load the
# machine or measure timing closely (a slow reader filling kernel buffers,
# the tick rate within 0.5 %): they run alone, after the others.
JOBS=${JOBS:-3}
SERIAL="test_hostile.py test_tickrate.py"
# What each build runs: "all", or files, each optionally with the tests to
# run in it (FILE:TEST,TEST). Every file runs in full once (plain, 2 worker
# loops) and under ASan+UBSan; the other builds run what concerns them, so
# that the whole of make test stays within its 10 minutes:
#   1 worker   the game, rounds and scores, as a single loop plays them
#   tsan       what crosses threads: start-up and shutdown, rooms spread
#              over loops, rooms left, the global top, many rooms, signals,
#              the connection limits that every loop counts together
# test_startup.py's start-up race (20 starts, 32 workers) runs on the plain
# build; its shutdown race (20 SIGTERMs) under the sanitizers, as the
# issue that found it asks.
STARTUP_PLAIN="test_startup.py:many_rooms_connecting_at_start_are_all_served"
STARTUP_SAN="test_startup.py:sigterm_while_top_scores_change_exits_cleanly"
ONE_WORKER="test_game.py test_play.py test_ticks.py test_scores.py test_signals.py test_bots_rounds.py"
TSAN_FILES="$STARTUP_SAN test_fanout.py test_rooms_leave.py test_top_global.py test_many_rooms.py test_signals.py test_game.py test_limits.py:max_conns_503_then_accepted_again,max_conns_per_ip_counts_each_address"
integration() { # integration TAG BINARY WORKERS SELECTION [ENV...]
  local tag=$1 bin=$2 workers=$3 sel=$4; shift 4
  local files=() args=() f base i running=0 entry
  if [ "$sel" = all ]; then
    for f in tests/integration/test_*.py; do files+=("$f"); args+=(""); done
  else
    for entry in $sel; do
      files+=("tests/integration/${entry%%:*}")
      case "$entry" in *:*) args+=("${entry#*:}") ;; *) args+=("") ;; esac
    done
  fi
  run_file() { # run_file INDEX ENV...
    local idx=$1; shift
    local tests=${args[$idx]//,/ }
    # shellcheck disable=SC2086
    start "int$tag$idx" SNAKEPIT_BIN="$bin" SNAKEPIT_WORKERS="$workers" "$@" -- "$PY" "${files[$idx]}" $tests
  }
  for i in "${!files[@]}"; do
    base=$(basename "${files[$i]}")
    case " $SERIAL " in *" $base "*) continue ;; esac
    run_file "$i" "$@"
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
  done
  wait
  for i in "${!files[@]}"; do
    base=$(basename "${files[$i]}")
    case " $SERIAL " in *" $base "*) ;; *) continue ;; esac
    run_file "$i" "$@"
    wait
  done
  for i in "${!files[@]}"; do
    collect "int$tag$i" "integration[$tag] $(basename "${files[$i]}")${args[$i]:+ (${args[$i]})}"
  done
}

# The unit tests of the pieces that threads share, run under TSan too.
TSAN_UNITS="test_mailbox test_directory test_outq test_iptable"
if has unit; then
  for build in build build/asan; do
    tag=${build#build}; tag=${tag#/}; tag=${tag:-plain}
    for t in "$build"/tests/test_*; do
      [ -x "$t" ] && suite "unit[$tag] $(basename "$t")" X=1 -- "$t"
    done
  done
  for u in $TSAN_UNITS; do
    t=build/tsan/tests/$u
    [ -x "$t" ] && suite "unit[tsan] $u" TSAN_OPTIONS=halt_on_error=1 -- "$t"
  done
fi
ALL_BUT_STARTUP=$(cd tests/integration && ls test_*.py | grep -v '^test_startup.py$' | tr '\n' ' ')
if has integration; then
  integration "2 workers" build/snakepit 2 "$ALL_BUT_STARTUP $STARTUP_PLAIN"
  integration "1 worker" build/snakepit 1 "$ONE_WORKER"
  integration "asan" build/asan/snakepit 2 "$ALL_BUT_STARTUP $STARTUP_SAN"
  [ -x build/tsan/snakepit ] && integration "tsan" build/tsan/snakepit 2 "$TSAN_FILES" \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
fi
if has install; then
  suite "install" X=1 -- "$PY" tests/install/test_install.py
fi
if has browser && [ -x tests/browser/run.sh ]; then
  suite "browser" X=1 -- tests/browser/run.sh
fi
if has fuzz && [ -f tests/fuzz/Makefile ]; then
  suite "fuzz corpus" X=1 -- make --no-print-directory -s -C tests/fuzz check
fi
# The cluster files measure failover by the clock (leases of 1 to 6 s,
# timeouts of 0.5 s), so each runs alone in its lane; three lanes run side
# by side, each cluster on its own ports:
#   - the module's own files (cluster_node against real Redis, HAProxy with
#     stand-in backends, cluster.sh, the options): plain, then ASan, then
#     the thread-safe readers under TSan. The files in ONCE run only with
#     the plain build: the HAProxy routing test runs no C of ours, and the
#     option and cluster.sh tests exercise the binary, which the other
#     suites run under ASan;
#   - the end-to-end files (test_e2e_*.py: Redis, 3 nodes of the binary and
#     HAProxy started by cluster.sh, players through HAProxy) with the
#     plain build;
#   - the same with the ASan build.
ONCE="test_haproxy.py test_options.py test_cluster_sh.py"
declare -a cl_ids cl_names cl_lane cl_build cl_file
cluster_add() { # cluster_add LANE BUILD TAG FILE
  cl_ids+=("cl-$3-$(basename "$4")"); cl_names+=("cluster[$3] $(basename "$4")")
  cl_lane+=("$1"); cl_build+=("$2"); cl_file+=("$4")
}
cluster_lane() { # cluster_lane LANE: its files, one after the other
  local i b
  for i in "${!cl_ids[@]}"; do
    [ "${cl_lane[$i]}" = "$1" ] || continue
    b=${cl_build[$i]}
    run_one "${cl_ids[$i]}" SNAKEPIT_CLUSTER_NODE="$b/tests/cluster_node" \
      SNAKEPIT_BIN="$b/snakepit" \
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
      -- "$PY" "${cl_file[$i]}"
  done
}
if has cluster; then
  for build in build build/asan build/tsan; do
    tag=${build#build}; tag=${tag#/}; tag=${tag:-plain}
    [ -x "$build/tests/cluster_node" ] || continue
    for f in tests/cluster/test_*.py; do
      base=$(basename "$f")
      case "$base" in
        test_e2e_*)
          # End to end: plain and ASan, a lane each.
          [ "$tag" = tsan ] || cluster_add "e2e-$tag" "$build" "$tag" "$f" ;;
        *)
          case " $ONCE " in *" $base "*) [ "$tag" = plain ] || continue ;; esac
          # ThreadSanitizer: only the file made for it.
          [ "$tag" = tsan ] && [ "$base" != test_threads.py ] && continue
          cluster_add module "$build" "$tag" "$f" ;;
      esac
    done
  done
  for lane in $(printf '%s\n' "${cl_lane[@]}" | sort -u); do
    cluster_lane "$lane" &
  done
  wait
  for i in "${!cl_ids[@]}"; do
    collect "${cl_ids[$i]}" "${cl_names[$i]}"
  done
fi

echo
echo "== summary"
for r in "${report[@]}"; do echo "   $r"; done
echo "   (wall time of the whole run: $SECONDS s)"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
