#!/usr/bin/env bash
# Runs the standard workloads of issue 4 against build/snakepit and writes
# bench/results/latest.json and bench/results/latest.md.
#
#   bench/run.sh                  the full suite (30 to 35 minutes)
#   BENCH_QUICK=1 bench/run.sh    a smoke run: one run per figure, 5 s windows,
#                                 smaller N (under 3 minutes); writes quick.*
#
# Besides the workloads of issue 4, issue 6's two comparisons: W1 and W2 with
# --workers 1 and --workers 2 side by side (alternating run by run, plus a W2
# sweep with each), and the bots benchmark (bots.sh).
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
	WORKERS_N=${BENCH_WORKERS_N:-1000}
	WORKERS_SWEEP_RES=${BENCH_WORKERS_SWEEP_RES:-500}
	WORKERS_SWEEP_BY=${BENCH_WORKERS_SWEEP_BY:-170}
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
	WORKERS_N=${BENCH_WORKERS_N:-"2000 3000"}
	WORKERS_SWEEP_RES=${BENCH_WORKERS_SWEEP_RES:-250}
	WORKERS_SWEEP_BY=${BENCH_WORKERS_SWEEP_BY:-2100}
	OUT_NAME=${BENCH_OUT_NAME:-latest}
fi
TICK=${BENCH_TICK_RATE:-20}
RATE=${BENCH_CONNECT_RATE:-2000}
ONLY=${BENCH_ONLY:-"floor w1 w2 w3 sweep workers bots"}
# The workers comparison: a W2 sweep with each worker count too (0: only the
# fixed N of WORKERS_N). It starts no figure that would end later than
# WORKERS_SWEEP_BY seconds into the run, so that the full run stays within
# about 35 minutes whatever the standard sweeps took.
WORKERS_SWEEP=${BENCH_WORKERS_SWEEP:-1}
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

# start_server TAG [OPTIONS]: starts a fresh server with an empty data
# directory, OPTIONS after BENCH_SERVER_ARGS (so they win); sets SRV_PID,
# SRV_PORT.
start_server() {
	local tag=$1 data=$WORK/data-$1 log=$WORK/server-$1.log i
	rm -rf "$data"
	mkdir -p "$data"
	# shellcheck disable=SC2086
	"${pin_server[@]}" "$SERVER" --host 127.0.0.1 --port 0 --data "$data" --tick-rate "$TICK" \
		--max-players 10 --log-level warn ${BENCH_SERVER_ARGS:-} ${2:-} 2>"$log" >/dev/null &
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

# server_workers: the running server's event loops, from GET /api/stats
# ("null" when it does not answer).
server_workers() {
	"$PY" -c '
import json, sys, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:%s/api/stats" % sys.argv[1], timeout=3) as r:
        print(int(json.loads(r.read().decode())["workers"]))
except Exception:
    print("null")
' "$SRV_PORT"
}

# run_one WORKLOAD N RUN [SET OPTIONS]: one run against a fresh server (with
# the extra server OPTIONS); appends a line to $RAW and leaves the bench's
# JSON in RUN_JSON and the server's worker count in RUN_WORKERS. SET is "std"
# (the standard workloads, no extra options) or "workers" (the comparison).
DEFAULT_WORKERS="" # the worker count of a standard run, once known
run_one() {
	local w=$1 n=$2 run=$3 set=${4:-std} opts=${5:-} tag warm=$WARMUP dur=$DURATION
	tag="$1-$2-$3-$set${opts// /}"
	RUN_JSON=null RUN_WORKERS=null
	if [ "$w" = w3 ]; then warm=2 dur=3; fi # Idle: only the memory matters.
	if ! start_server "$tag" "$opts"; then
		printf '{"kind":"run","workload":"%s","n":%d,"run":%d,"set":"%s","server_args":"%s","workers":null,"server":"no-start","result":null}\n' \
			"$w" "$n" "$run" "$set" "$opts" >>"$RAW"
		return 0
	fi
	# shellcheck disable=SC2046
	"${pin_bench[@]}" "$BIN/snakepit-bench" "ws://127.0.0.1:$SRV_PORT/connect" $(bench_args "$w" "$n") \
		--warmup "$warm" --duration "$dur" --tick-rate "$TICK" --connect-rate "$RATE" \
		--server-pid "$SRV_PID" --json >"$WORK/bench-$tag.json" 2>"$WORK/bench-$tag.log" || true
	RUN_JSON=$(tail -n 1 "$WORK/bench-$tag.json")
	RUN_WORKERS=$(server_workers)
	stop_server
	if [ "$SRV_STATUS" != ok ]; then
		log "server $SRV_STATUS during $tag; last lines of its log:"
		tail -n 5 "$WORK/server-$tag.log" >&2 || true
	fi
	case $RUN_JSON in "{"*) ;; *) RUN_JSON=null ;; esac
	if [ "$set" = std ] && [ "$RUN_WORKERS" != null ]; then DEFAULT_WORKERS=$RUN_WORKERS; fi
	printf '{"kind":"run","workload":"%s","n":%d,"run":%d,"set":"%s","server_args":"%s","workers":%s,"server":"%s","result":%s}\n' \
		"$w" "$n" "$run" "$set" "$opts" "$RUN_WORKERS" "$SRV_STATUS" "$RUN_JSON" >>"$RAW"
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
print("%sconn %s/%s fail %s lost-conn %s | %s msg/s (%s of expected) | gap p99 %s ms max %s | key p99 %s ms | srv %s us/msg %s%%, rss/conn %s B | gen cpu %s%% | machine %s%%%s" % (
    "" if sys.argv[2] == "null" else sys.argv[2] + " worker(s): ",
    r["connected"], r["clients"], r["connect_failures"], r["unexpected_closes"], f("msgs_per_s", "%.0f"),
    f("delivery_ratio", "%.3f"), f("gap_p99_ms", "%.1f"), f("gap_max_ms", "%.1f"), f("key_p99_ms", "%.1f"),
    f("server_cpu_us_per_msg"), f("server_cpu_pct", "%.0f"), f("server_rss_per_conn_bytes", "%.0f"),
    f("bench_cpu_pct", "%.0f"), f("machine_cpu_pct", "%.0f"),
    "  (GENERATOR SATURATED)" if r.get("bench_saturated") else ""))
' "$1" "${2:-null}"
}

# paired W N: whether the standard runs of W at N get the workers comparison.
paired() {
	want workers || return 1
	case $1 in w1 | w2) ;; *) return 1 ;; esac
	case " $(for m in $WORKERS_N; do cap_n "$m"; done | tr '\n' ' ') " in *" $2 "*) return 0 ;; esac
	return 1
}

# compare_run W N RUN [STD]: the comparison runs of run RUN of W at N, with
# --workers 1 and --workers 2, in alternating order from run to run so that
# machine noise hits both. With STD=1 a standard run is one of them: it
# stands for the worker count it had (the server's default), and only the
# other count is run with --workers.
compare_run() {
	local w=$1 n=$2 run=$3 std=${4:-0} order k covered=" "
	if [ $((run % 2)) = 1 ]; then order="2 1"; else order="1 2"; fi
	for k in $order; do
		# The standard run takes the place of its own worker count (or comes
		# first when that is neither 1 nor 2).
		if [ "$std" = 1 ] && { [ -z "$DEFAULT_WORKERS" ] || [ "$DEFAULT_WORKERS" = "$k" ] ||
			[[ " 1 2 " != *" $DEFAULT_WORKERS "* ]]; }; then
			log "$w N=$n run $run/$RUNS"
			run_one "$w" "$n" "$run"
			log "  $(summary "$RUN_JSON" "$RUN_WORKERS")"
			covered+="$RUN_WORKERS "
			std=0
		fi
		case $covered in *" $k "*) continue ;; esac
		log "$w N=$n run $run/$RUNS --workers $k"
		run_one "$w" "$n" "$run" workers "--workers $k"
		log "  $(summary "$RUN_JSON" "$RUN_WORKERS")"
		covered+="$k "
	done
}

# figure W N [K]: RUNS runs of W at N (K: with --workers K); records its
# sweep verdict (pass or fail) in VERDICT[W:N] (VERDICT[W:N:K]).
declare -A VERDICT
figure() {
	local w=$1 n=$2 k=${3:-} run
	for run in $(seq "$RUNS"); do
		if [ -n "$k" ]; then
			log "$w N=$n run $run/$RUNS --workers $k"
			run_one "$w" "$n" "$run" workers "--workers $k"
			log "  $(summary "$RUN_JSON" "$RUN_WORKERS")"
		elif paired "$w" "$n"; then
			compare_run "$w" "$n" "$run" 1
		else
			log "$w N=$n run $run/$RUNS"
			run_one "$w" "$n" "$run"
			log "  $(summary "$RUN_JSON" "$RUN_WORKERS")"
		fi
	done
	if [ -n "$k" ]; then
		VERDICT[$w:$n:$k]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL" --workers "$k")
		return
	fi
	VERDICT[$w:$n]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL")
	if paired "$w" "$n"; then
		for k in 1 2; do
			VERDICT[$w:$n:$k]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL" --workers "$k")
		done
	fi
}

# in_time K N: whether a figure of the workers sweep (K set) at N would end
# before WORKERS_SWEEP_BY seconds into the run; if not, sets STOPPED.
in_time() {
	[ -n "$1" ] || return 0
	local end # when the figure would end: RUNS x (connect, warm-up, window, start and stop)
	end=$(awk -v r="$RUNS" -v w="$WARMUP" -v d="$DURATION" -v n="$2" -v rate="$RATE" -v t="$(($(date +%s) - START))" \
		'BEGIN { printf "%d", t + r * (w + d + 3 + (rate > 0 ? n / rate : 1)) }')
	if [ "$end" -gt "$WORKERS_SWEEP_BY" ]; then
		log "workers: the W2 sweep with --workers $1 stops before N=$2: it would end past $WORKERS_SWEEP_BY s into the run (BENCH_WORKERS_SWEEP_BY)"
		STOPPED="time"
		return 1
	fi
}

declare -A FIRST_FAIL # the first N that failed in the standard sweep of W
sweep() { # sweep W [K]: the largest N whose figure passes (with --workers K).
	local w=$1 k=${2:-} n lo=0 hi=0 mid key res=$SWEEP_RES max=$SWEEP_MAX
	if [ -n "$k" ]; then
		res=$WORKERS_SWEEP_RES
		# Past the first N the standard sweep failed at, the comparison is
		# settled (one worker does at least as well): do not spend the time.
		if [ "${FIRST_FAIL[$w]:-0}" -gt 0 ] && [ "${FIRST_FAIL[$w]}" -lt "$max" ]; then max=${FIRST_FAIL[$w]}; fi
	fi
	n=$(cap_n "$SWEEP_START")
	STOPPED=""
	while :; do
		key=$w:$n${k:+:$k}
		if [ -z "${VERDICT[$key]:-}" ]; then
			in_time "$k" "$n" || break
			figure "$w" "$n" "$k"
		fi
		log "sweep $w${k:+ --workers $k}: N=$n ${VERDICT[$key]}"
		if [ "${VERDICT[$key]}" = pass ]; then
			lo=$n
			[ "$hi" -gt 0 ] && break
			n=$((n + SWEEP_STEP))
			if [ "$n" -gt "$max" ] || [ "$n" -gt "$MAX_N" ]; then break; fi
		else
			hi=$n
			[ "$lo" -gt 0 ] && break
			n=$((n - SWEEP_STEP))
			[ "$n" -lt "$SWEEP_STEP" ] && break
		fi
	done
	# Bisect between the last pass and the first failure.
	while [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ] && [ $((hi - lo)) -gt "$res" ]; do
		mid=$(((lo + hi) / 2))
		key=$w:$mid${k:+:$k}
		if [ -z "${VERDICT[$key]:-}" ]; then
			in_time "$k" "$mid" || break
			figure "$w" "$mid" "$k"
		fi
		log "sweep $w${k:+ --workers $k}: N=$mid ${VERDICT[$key]}"
		if [ "${VERDICT[$key]}" = pass ]; then lo=$mid; else hi=$mid; fi
	done
	printf '{"kind":"sweep","workload":"%s","set":"%s","workers":%s,"largest_n":%d,"first_fail_n":%d,"capped_at":%d,"resolution":%d,"stopped":"%s"}\n' \
		"$w" "$([ -n "$k" ] && echo workers || echo std)" "${k:-${DEFAULT_WORKERS:-null}}" "$lo" "$hi" \
		"$((max < MAX_N ? max : MAX_N))" "$res" "$STOPPED" >>"$RAW"
	[ -n "$k" ] || FIRST_FAIL[$w]=$hi
	log "sweep $w${k:+ --workers $k}: largest N meeting p99 gap <= $GAP_LIMIT ms with nothing lost: $lo"
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
if want workers; then
	# The comparison at the N the standard workloads did not run already.
	for w in w1 w2; do
		for n in $WORKERS_N; do
			n=$(cap_n "$n")
			[ -n "${VERDICT[$w:$n:1]:-}" ] && continue
			for run in $(seq "$RUNS"); do compare_run "$w" "$n" "$run"; done
			for k in 1 2; do
				VERDICT[$w:$n:$k]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL" --workers "$k")
			done
		done
	done
fi
if want w3; then
	n=$(cap_n "$W3_N")
	[ "$n" != "$W3_N" ] && log "W3: N=$W3_N needs more file descriptors than the limit ($NOFILE): using N=$n"
	for run in $(seq "$RUNS"); do
		log "w3 N=$n run $run/$RUNS"
		run_one w3 "$n" "$run"
		log "  $(summary "$RUN_JSON")"
	done
fi
if want bots; then
	BENCH_BOTS_RUNS=${BENCH_BOTS_RUNS:-1} BENCH_QUICK=$QUICK BENCH_TICK_RATE=$TICK BENCH_SERVER=$SERVER \
		BENCH_BIN_DIR=$BIN "$HERE/bots.sh" >>"$RAW" || log "bots.sh failed"
fi
if want sweep; then
	sweep w1
	sweep w2
fi
if want workers && [ "$WORKERS_SWEEP" = 1 ]; then
	# W2 only: W1's one room lives on one loop, whatever the worker count.
	for k in 1 2; do
		# The standard sweep stands for the server's default worker count.
		if want sweep && [ "$k" = "$DEFAULT_WORKERS" ]; then continue; fi
		sweep w2 "$k"
	done
fi

mkdir -p "$OUT_DIR"
"$PY" "$HERE/report.py" report "$RAW" "$OUT_DIR/$OUT_NAME" \
	--mode "$([ "$QUICK" = 1 ] && echo quick || echo full)" --runs "$RUNS" --warmup "$WARMUP" \
	--duration "$DURATION" --tick-rate "$TICK" --gap-limit "$GAP_LIMIT" --loss-tol "$LOSS_TOL" \
	--nofile "$NOFILE" --elapsed "$(($(date +%s) - START))" --root "$ROOT" --server "$SERVER" \
	--workers-n "$(for n in $WORKERS_N; do cap_n "$n"; done | tr '\n' ' ')" --pinned "${#pin_server[@]}"
log "wrote $OUT_DIR/$OUT_NAME.json and $OUT_DIR/$OUT_NAME.md in $(($(date +%s) - START)) s"
cat "$OUT_DIR/$OUT_NAME.md"
