#!/usr/bin/env bash
# Runs the standard workloads of issue 4 against build/snakepit and writes
# bench/results/latest.json and bench/results/latest.md.
#
#   bench/run.sh                  the full suite (about half an hour)
#   BENCH_QUICK=1 bench/run.sh    a smoke run: one run per figure, 5 s windows,
#                                 smaller N (under 2 minutes); writes quick.*
#
# Every figure is the median of BENCH_RUNS runs, each against a freshly
# started server. See bench/README.md for the variables.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${BENCH_BIN_DIR:-$ROOT/build/bench}
SERVER=${BENCH_SERVER:-$ROOT/build/snakepit}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	RUNS=${BENCH_RUNS:-1}
	WARMUP=${BENCH_WARMUP:-2}
	DURATION=${BENCH_DURATION:-5}
	W1_N=${BENCH_W1_N:-"500 1000"}
	W2_N=${BENCH_W2_N:-"500 1000"}
	W3_N=${BENCH_W3_N:-5000}
	SWEEP_START=${BENCH_SWEEP_START:-1500}
	SWEEP_STEP=${BENCH_SWEEP_STEP:-500}
	SWEEP_RES=${BENCH_SWEEP_RES:-500}
	SWEEP_MAX=${BENCH_SWEEP_MAX:-2000}
	FLOOR_DURATION=${BENCH_FLOOR_DURATION:-4}
	OUT_NAME=${BENCH_OUT_NAME:-quick}
else
	RUNS=${BENCH_RUNS:-3}
	WARMUP=${BENCH_WARMUP:-5}
	DURATION=${BENCH_DURATION:-20}
	W1_N=${BENCH_W1_N:-"1000 2000 3000"}
	W2_N=${BENCH_W2_N:-"1000 2000 3000"}
	W3_N=${BENCH_W3_N:-20000}
	SWEEP_START=${BENCH_SWEEP_START:-3000}
	SWEEP_STEP=${BENCH_SWEEP_STEP:-500}
	SWEEP_RES=${BENCH_SWEEP_RES:-125}
	SWEEP_MAX=${BENCH_SWEEP_MAX:-8000}
	FLOOR_DURATION=${BENCH_FLOOR_DURATION:-10}
	OUT_NAME=${BENCH_OUT_NAME:-latest}
fi
TICK=${BENCH_TICK_RATE:-20}
RATE=${BENCH_CONNECT_RATE:-2000}
ONLY=${BENCH_ONLY:-"floor w1 w2 w3 sweep"}
PIN=${BENCH_PIN:-0}
OUT_DIR=${BENCH_OUT_DIR:-$HERE/results}
# Sweep verdict: p99 gap at most 1.25 ticks, and no frame lost (within the
# estimator's tolerance, see README), no failed or dropped connection.
GAP_LIMIT=$(awk -v t="$TICK" 'BEGIN { printf "%.3f", 1250 / t }')
LOSS_TOL=${BENCH_LOSS_TOL:-0.001}

want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Every connection is a file descriptor on both sides: take what we may.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
MAX_N=$((NOFILE - 100))
cap_n() { # The largest N this process limit allows.
	if [ "$1" -gt "$MAX_N" ]; then echo "$MAX_N"; else echo "$1"; fi
}

make -s -C "$HERE" all
if [ ! -x "$SERVER" ]; then
	log "building the server"
	make -s -C "$ROOT" all
fi

WORK=$(mktemp -d /tmp/snakepit-bench.XXXXXX)
RAW=$WORK/runs.jsonl
: >"$RAW"
SRV_PID=""
cleanup() {
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -TERM "$SRV_PID" 2>/dev/null || true
		sleep 0.5
		kill -KILL "$SRV_PID" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pin_server=() pin_bench=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
	pin_server=(taskset -c 0)
	pin_bench=(taskset -c 1)
fi

# Starts a fresh server with an empty data directory; sets SRV_PID, SRV_PORT.
start_server() {
	local tag=$1 data=$WORK/data-$1 log=$WORK/server-$1.log i
	rm -rf "$data"
	mkdir -p "$data"
	# shellcheck disable=SC2086
	"${pin_server[@]}" "$SERVER" --host 127.0.0.1 --port 0 --data "$data" --tick-rate "$TICK" \
		--max-players 10 --log-level warn ${BENCH_SERVER_ARGS:-} 2>"$log" >/dev/null &
	SRV_PID=$!
	SRV_PORT=""
	for i in $(seq 100); do
		SRV_PORT=$(grep -m1 'event=listening' "$log" 2>/dev/null | grep -o 'port=[0-9]*' | head -n1 | cut -d= -f2 || true)
		# At --log-level warn the listening line may be silent: ask the kernel.
		[ -n "$SRV_PORT" ] || SRV_PORT=$(ss -Hltnp 2>/dev/null | grep "pid=$SRV_PID," | awk '{print $4}' | sed 's/.*://' | head -n1 || true)
		[ -n "$SRV_PORT" ] && break
		if ! kill -0 "$SRV_PID" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [ -z "$SRV_PORT" ]; then
		log "server did not start; its log:"
		tail -n 20 "$log" >&2 || true
		return 1
	fi
}

# Stops the server; sets SRV_STATUS to "ok" or what went wrong.
stop_server() {
	local i rc
	SRV_STATUS=ok
	if ! kill -0 "$SRV_PID" 2>/dev/null; then
		rc=0
		wait "$SRV_PID" 2>/dev/null || rc=$?
		SRV_STATUS="died(exit $rc)"
	else
		kill -TERM "$SRV_PID" 2>/dev/null || true
		for i in $(seq 50); do
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$SRV_PID" 2>/dev/null; then
			kill -KILL "$SRV_PID" 2>/dev/null || true
			SRV_STATUS="no-exit-on-SIGTERM"
		fi
		rc=0
		wait "$SRV_PID" 2>/dev/null || rc=$?
		# 143: ended by the signal itself, as a server without a handler is.
		if [ "$SRV_STATUS" = ok ] && [ "$rc" != 0 ] && [ "$rc" != 143 ]; then
			SRV_STATUS="exit-$rc-on-SIGTERM"
		fi
	fi
	SRV_PID=""
}

# bench_args WORKLOAD N: the load generator's options for a workload.
bench_args() {
	local w=$1 n=$2 rooms
	case $w in
	w1) echo "--clients $n --rooms 1 --players 10" ;;
	w2)
		rooms=$(((n + 9) / 10))
		echo "--clients $n --rooms $rooms --players $n"
		;;
	w3)
		rooms=$(((n + 9) / 10))
		echo "--clients $n --rooms $rooms --players 0"
		;;
	esac
}

# run_one WORKLOAD N RUN: one run against a fresh server; appends a line to
# $RAW and leaves the bench's JSON in RUN_JSON.
run_one() {
	local w=$1 n=$2 run=$3 tag="$1-$2-$3" warm=$WARMUP dur=$DURATION
	RUN_JSON=null
	if [ "$w" = w3 ]; then warm=2 dur=3; fi # Idle: only the memory matters.
	if ! start_server "$tag"; then
		printf '{"kind":"run","workload":"%s","n":%d,"run":%d,"server":"no-start","result":null}\n' "$w" "$n" "$run" >>"$RAW"
		return 0
	fi
	# shellcheck disable=SC2046
	"${pin_bench[@]}" "$BIN/snakepit-bench" "ws://127.0.0.1:$SRV_PORT/connect" $(bench_args "$w" "$n") \
		--warmup "$warm" --duration "$dur" --tick-rate "$TICK" --connect-rate "$RATE" \
		--server-pid "$SRV_PID" --json >"$WORK/bench-$tag.json" 2>"$WORK/bench-$tag.log" || true
	RUN_JSON=$(tail -n 1 "$WORK/bench-$tag.json")
	stop_server
	if [ "$SRV_STATUS" != ok ]; then
		log "server $SRV_STATUS during $tag; last lines of its log:"
		tail -n 5 "$WORK/server-$tag.log" >&2 || true
	fi
	case $RUN_JSON in "{"*) ;; *) RUN_JSON=null ;; esac
	printf '{"kind":"run","workload":"%s","n":%d,"run":%d,"server":"%s","result":%s}\n' \
		"$w" "$n" "$run" "$SRV_STATUS" "$RUN_JSON" >>"$RAW"
}

# summary JSON: a one-line digest of one run for the terminal.
summary() {
	"$PY" -c '
import json, sys
try:
    r = json.loads(sys.argv[1])
except Exception:
    print("no result"); sys.exit()
if r is None:
    print("no result"); sys.exit()
f = lambda k, fmt="%.2f": (fmt % r[k]) if r.get(k) is not None else "-"
print("conn %s/%s fail %s lost-conn %s | %s msg/s (%s of expected) | gap p99 %s ms max %s | key p99 %s ms | srv %s us/msg, rss/conn %s B | gen cpu %s%%%s" % (
    r["connected"], r["clients"], r["connect_failures"], r["unexpected_closes"], f("msgs_per_s", "%.0f"),
    f("delivery_ratio", "%.3f"), f("gap_p99_ms", "%.1f"), f("gap_max_ms", "%.1f"), f("key_p99_ms", "%.1f"),
    f("server_cpu_us_per_msg"), f("server_rss_per_conn_bytes", "%.0f"), f("bench_cpu_pct", "%.0f"),
    "  (GENERATOR SATURATED)" if r.get("bench_saturated") else ""))
' "$1"
}

# figure W N: RUNS runs of W at N; records its sweep verdict (pass or fail).
declare -A VERDICT
figure() {
	local w=$1 n=$2 run
	for run in $(seq "$RUNS"); do
		log "$w N=$n run $run/$RUNS"
		run_one "$w" "$n" "$run"
		log "  $(summary "$RUN_JSON")"
	done
	VERDICT[$w:$n]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL")
}

sweep() { # sweep W: the largest N whose figure passes.
	local w=$1 n lo=0 hi=0 mid
	n=$(cap_n "$SWEEP_START")
	while :; do
		[ -n "${VERDICT[$w:$n]:-}" ] || figure "$w" "$n"
		log "sweep $w: N=$n ${VERDICT[$w:$n]}"
		if [ "${VERDICT[$w:$n]}" = pass ]; then
			lo=$n
			[ "$hi" -gt 0 ] && break
			n=$((n + SWEEP_STEP))
			if [ "$n" -gt "$SWEEP_MAX" ] || [ "$n" -gt "$MAX_N" ]; then break; fi
		else
			hi=$n
			[ "$lo" -gt 0 ] && break
			n=$((n - SWEEP_STEP))
			[ "$n" -lt "$SWEEP_STEP" ] && break
		fi
	done
	# Bisect between the last pass and the first failure.
	while [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ] && [ $((hi - lo)) -gt "$SWEEP_RES" ]; do
		mid=$(((lo + hi) / 2))
		[ -n "${VERDICT[$w:$mid]:-}" ] || figure "$w" "$mid"
		log "sweep $w: N=$mid ${VERDICT[$w:$mid]}"
		if [ "${VERDICT[$w:$mid]}" = pass ]; then lo=$mid; else hi=$mid; fi
	done
	printf '{"kind":"sweep","workload":"%s","largest_n":%d,"first_fail_n":%d,"capped_at":%d}\n' \
		"$w" "$lo" "$hi" "$((SWEEP_MAX < MAX_N ? SWEEP_MAX : MAX_N))" >>"$RAW"
	log "sweep $w: largest N meeting p99 gap <= $GAP_LIMIT ms with nothing lost: $lo"
}

START=$(date +%s)
log "snakepit bench: mode $([ "$QUICK" = 1 ] && echo quick || echo full), $RUNS run(s) per figure, window ${DURATION}s, tick $TICK Hz, nofile $NOFILE"
log "server $SERVER; load average $(cut -d' ' -f1-3 /proc/loadavg)"

if want floor; then
	for n in $(printf '%s\n' $W1_N $W2_N | sort -n -u); do
		n=$(cap_n "$n")
		for run in $(seq "$RUNS"); do
			json=$("$BIN/floor" --conns "$n" --tick-rate "$TICK" --duration "$FLOOR_DURATION" --json | tail -n 1) || json=null
			printf '{"kind":"floor","n":%d,"run":%d,"result":%s}\n' "$n" "$run" "$json" >>"$RAW"
			log "floor N=$n run $run/$RUNS: $(echo "$json" | grep -o '"cpu_us_per_write":[0-9.]*')"
		done
	done
fi
if want w1; then for n in $W1_N; do figure w1 "$(cap_n "$n")"; done; fi
if want w2; then for n in $W2_N; do figure w2 "$(cap_n "$n")"; done; fi
if want w3; then
	n=$(cap_n "$W3_N")
	[ "$n" != "$W3_N" ] && log "W3: N=$W3_N needs more file descriptors than the limit ($NOFILE): using N=$n"
	for run in $(seq "$RUNS"); do
		log "w3 N=$n run $run/$RUNS"
		run_one w3 "$n" "$run"
		log "  $(summary "$RUN_JSON")"
	done
fi
if want sweep; then
	sweep w1
	sweep w2
fi

mkdir -p "$OUT_DIR"
"$PY" "$HERE/report.py" report "$RAW" "$OUT_DIR/$OUT_NAME" \
	--mode "$([ "$QUICK" = 1 ] && echo quick || echo full)" --runs "$RUNS" --warmup "$WARMUP" \
	--duration "$DURATION" --tick-rate "$TICK" --gap-limit "$GAP_LIMIT" --loss-tol "$LOSS_TOL" \
	--nofile "$NOFILE" --elapsed "$(($(date +%s) - START))" --root "$ROOT" --server "$SERVER"
log "wrote $OUT_DIR/$OUT_NAME.json and $OUT_DIR/$OUT_NAME.md in $(($(date +%s) - START)) s"
cat "$OUT_DIR/$OUT_NAME.md"
