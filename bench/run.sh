#!/usr/bin/env bash
# Runs the standard workloads against build/snakepit and writes
# bench/results/latest.json and bench/results/latest.md, with the targets of
# issue 11 ("One big room on every core") met or not.
#
#   bench/run.sh                  the full suite (35 to 40 minutes)
#   BENCH_QUICK=1 bench/run.sh    a smoke run: one run per figure, 5 s windows,
#                                 smaller N (about 2 minutes); writes quick.*
#
# The workloads of issue 4 (W1 spectators, W2 rooms of 10, W3 idle), W1 and W2
# with --workers 1 and --workers 2 side by side (alternating run by run), the
# sweeps (the largest N on time: W1 with 1 loop and with 2 in lockstep, W2
# with the server's default loops and with 1), and the bots benchmark
# (bots.sh).
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
	SWEEP_BY=${BENCH_SWEEP_BY:-${BENCH_WORKERS_SWEEP_BY:-240}}
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
	SWEEP_BY=${BENCH_SWEEP_BY:-${BENCH_WORKERS_SWEEP_BY:-2280}}
	OUT_NAME=${BENCH_OUT_NAME:-latest}
fi
TICK=${BENCH_TICK_RATE:-20}
RATE=${BENCH_CONNECT_RATE:-2000}
ONLY=${BENCH_ONLY:-"floor w1 w2 w3 sweep workers bots"}
# The workers comparison: the W1 and W2 sweeps with each worker count too (0:
# only the fixed N of WORKERS_N, and the W2 sweep with the default loops).
# No sweep starts a figure that would end later than SWEEP_BY seconds into
# the run, so that the full run stays within about 40 minutes whatever the
# sweeps find; the W1 sweeps (issue 11's targets) go first.
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

# start_server, stop_server and bench_args.
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

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

# figure W N: RUNS runs of W at N (with the comparison's runs where paired);
# records its sweep verdict (pass or fail) in VERDICT[W:N], and in
# VERDICT[W:N:K] for each worker count K compared.
declare -A VERDICT
figure() {
	local w=$1 n=$2 k run
	for run in $(seq "$RUNS"); do
		if paired "$w" "$n"; then
			compare_run "$w" "$n" "$run" 1
		else
			log "$w N=$n run $run/$RUNS"
			run_one "$w" "$n" "$run"
			log "  $(summary "$RUN_JSON" "$RUN_WORKERS")"
		fi
	done
	VERDICT[$w:$n]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL")
	if paired "$w" "$n"; then
		for k in 1 2; do
			VERDICT[$w:$n:$k]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL" --workers "$k")
		done
	fi
}

# The sweeps: the largest N whose figure passes (the verdict above), one
# track per workload and worker count: "W:K" runs --workers K, "W:" the
# standard runs (the server's default loops). A track starts at SWEEP_START,
# steps by SWEEP_STEP up while it passes (down while it fails), then bisects
# between its last pass and first failure down to its resolution. Tracks
# swept together go in lockstep: each round measures the next figure of
# every track still open, run by run in alternating order (as compare_run
# does), so that noise on the machine hits every worker count alike.
declare -A T_N T_LO T_HI T_MAX T_RES T_DONE T_STOP T_CAPBY T_PATH

# track_init TRACK RES [CAPBY]: a track at its first N. With CAPBY (another
# track), it never goes past the first N where CAPBY failed: 1 loop does not
# keep time where 2 did not, so the search there would only spend time.
track_init() {
	T_N[$1]=$(cap_n "$SWEEP_START") T_LO[$1]=0 T_HI[$1]=0 T_RES[$1]=$2 T_DONE[$1]=0 T_STOP[$1]=""
	T_MAX[$1]=$SWEEP_MAX T_CAPBY[$1]=${3:-} T_PATH[$1]=""
}

track_max() { # The highest N TRACK may go to now.
	local m=${T_MAX[$1]} c=${T_CAPBY[$1]}
	if [ -n "$c" ] && [ "${T_HI[$c]}" -gt 0 ] && [ "${T_HI[$c]}" -lt "$m" ]; then m=${T_HI[$c]}; fi
	if [ "$m" -gt "$MAX_N" ]; then m=$MAX_N; fi
	echo "$m"
}

vkey() { # vkey TRACK N: the VERDICT key of TRACK's figure at N.
	local k=${1#*:}
	echo "${1%%:*}:$2${k:+:$k}"
}

tname() { # A track in words, for the log.
	local k=${1#*:}
	echo "${1%%:*}${k:+ --workers $k}"
}

# track_advance TRACK VERDICT: moves TRACK past its figure at T_N.
track_advance() {
	local t=$1 n=${T_N[$1]} lo hi
	if [ "$2" = pass ]; then T_LO[$t]=$n; else T_HI[$t]=$n; fi
	T_PATH[$t]+="${T_PATH[$t]:+,}[$n,\"$2\"]"
	lo=${T_LO[$t]} hi=${T_HI[$t]}
	if [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ]; then
		if [ $((hi - lo)) -gt "${T_RES[$t]}" ]; then T_N[$t]=$(((lo + hi) / 2)); else T_DONE[$t]=1; fi
	elif [ "$2" = pass ]; then
		n=$((n + SWEEP_STEP))
		if [ "$n" -gt "$(track_max "$t")" ]; then T_DONE[$t]=1; else T_N[$t]=$n; fi
	else
		n=$((n - SWEEP_STEP))
		if [ "$n" -lt "$SWEEP_STEP" ]; then T_DONE[$t]=1; else T_N[$t]=$n; fi
	fi
}

# in_time TRACK N PLANNED: whether a figure of TRACK at N, started after
# PLANNED more seconds of figures, would end before SWEEP_BY seconds into the
# run; if not, the track stops there.
in_time() {
	local end # RUNS x (connect, warm-up, window, start and stop)
	end=$(awk -v r="$RUNS" -v w="$WARMUP" -v d="$DURATION" -v n="$2" -v rate="$RATE" \
		-v t="$(($(date +%s) - START + $3))" \
		'BEGIN { printf "%d", t + r * (w + d + 3 + (rate > 0 ? n / rate : 1)) }')
	if [ "$end" -gt "$SWEEP_BY" ]; then
		log "sweep $(tname "$1"): stops before N=$2: it would end past $SWEEP_BY s into the run (BENCH_SWEEP_BY)"
		T_STOP[$1]=time T_DONE[$1]=1
		return 1
	fi
	PLANNED=$((end - ($(date +%s) - START)))
}

# sweep TRACK...: sweeps the tracks in lockstep, then records each one's
# result (a "sweep" line in $RAW).
sweep() {
	local t w k n run i key pend
	while :; do
		pend=() PLANNED=0
		for t in "$@"; do
			# Figures measured already (the standard workloads, the
			# comparison at fixed N) are not measured again.
			while [ "${T_DONE[$t]}" = 0 ] && [ -n "${VERDICT[$(vkey "$t" "${T_N[$t]}")]:-}" ]; do
				log "sweep $(tname "$t"): N=${T_N[$t]} ${VERDICT[$(vkey "$t" "${T_N[$t]}")]} (measured above)"
				track_advance "$t" "${VERDICT[$(vkey "$t" "${T_N[$t]}")]}"
			done
			[ "${T_DONE[$t]}" = 0 ] && in_time "$t" "${T_N[$t]}" "$PLANNED" && pend+=("$t")
		done
		[ "${#pend[@]}" -gt 0 ] || break
		for run in $(seq "$RUNS"); do
			# Odd runs from the last track, even ones from the first.
			for i in $(if [ $((run % 2)) = 1 ]; then seq $((${#pend[@]} - 1)) -1 0; else seq 0 $((${#pend[@]} - 1)); fi); do
				t=${pend[$i]} w=${pend[$i]%%:*} k=${pend[$i]#*:} n=${T_N[${pend[$i]}]}
				log "sweep $(tname "$t"): N=$n run $run/$RUNS"
				if [ -n "$k" ]; then run_one "$w" "$n" "$run" workers "--workers $k"; else run_one "$w" "$n" "$run"; fi
				log "  $(summary "$RUN_JSON" "$RUN_WORKERS")"
			done
		done
		for t in "${pend[@]}"; do
			w=${t%%:*} k=${t#*:} n=${T_N[$t]} key=$(vkey "$t" "${T_N[$t]}")
			VERDICT[$key]=$("$PY" "$HERE/report.py" verdict "$RAW" "$w" "$n" "$GAP_LIMIT" "$LOSS_TOL" ${k:+--workers "$k"})
			log "sweep $(tname "$t"): N=$n ${VERDICT[$key]}"
			track_advance "$t" "${VERDICT[$key]}"
		done
	done
	for t in "$@"; do
		w=${t%%:*} k=${t#*:}
		printf '{"kind":"sweep","workload":"%s","set":"%s","workers":%s,"largest_n":%d,"first_fail_n":%d,"capped_at":%d,"resolution":%d,"stopped":"%s","path":[%s]}\n' \
			"$w" "$([ -n "$k" ] && echo workers || echo std)" "${k:-${DEFAULT_WORKERS:-null}}" "${T_LO[$t]}" \
			"${T_HI[$t]}" "$(track_max "$t")" "${T_RES[$t]}" "${T_STOP[$t]}" "${T_PATH[$t]}" >>"$RAW"
		log "sweep $(tname "$t"): largest N meeting p99 gap <= $GAP_LIMIT ms with nothing lost: ${T_LO[$t]}"
	done
}

START=$(date +%s)
log "snakepit bench: mode $([ "$QUICK" = 1 ] && echo quick || echo full), $RUNS run(s) per figure, window ${DURATION}s, tick $TICK Hz, nofile $NOFILE"
log "server $SERVER; load average $(cut -d' ' -f1-3 /proc/loadavg)"

if want floor; then
	# shellcheck disable=SC2086 # the lists of N are split on purpose
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
# W1 first (issue 11: 2 loops against 1 on one big room), then W2 (the
# standard sweep with the default loops, and 1 loop against it).
sweep_w1=0 sweep_w2=()
if want sweep; then sweep_w1=1 sweep_w2+=(w2:); fi
if want workers && [ "$WORKERS_SWEEP" = 1 ]; then
	sweep_w1=1
	sweep_w2+=(w2:1)
	# The standard sweep stands for the server's default worker count.
	if ! want sweep || [ "$DEFAULT_WORKERS" != 2 ]; then sweep_w2+=(w2:2); fi
fi
if [ "$sweep_w1" = 1 ]; then
	track_init w1:2 "$SWEEP_RES"
	track_init w1:1 "$SWEEP_RES" w1:2
	sweep w1:1 w1:2
fi
if [ "${#sweep_w2[@]}" -gt 0 ]; then
	for t in "${sweep_w2[@]}"; do
		case $t in
		w2:1) track_init "$t" "$WORKERS_SWEEP_RES" "$(if want sweep && [ "$DEFAULT_WORKERS" = 2 ]; then echo w2:; else echo w2:2; fi)" ;;
		*) track_init "$t" "$WORKERS_SWEEP_RES" ;;
		esac
	done
	sweep "${sweep_w2[@]}"
fi

mkdir -p "$OUT_DIR"
"$PY" "$HERE/report.py" report "$RAW" "$OUT_DIR/$OUT_NAME" \
	--mode "$([ "$QUICK" = 1 ] && echo quick || echo full)" --runs "$RUNS" --warmup "$WARMUP" \
	--duration "$DURATION" --tick-rate "$TICK" --gap-limit "$GAP_LIMIT" --loss-tol "$LOSS_TOL" \
	--nofile "$NOFILE" --elapsed "$(($(date +%s) - START))" --root "$ROOT" --server "$SERVER" \
	--workers-n "$(for n in $WORKERS_N; do cap_n "$n"; done | tr '\n' ' ')" --pinned "${#pin_server[@]}" \
	--w3-n "$W3_N" --sweep-by "$SWEEP_BY"
log "wrote $OUT_DIR/$OUT_NAME.json and $OUT_DIR/$OUT_NAME.md in $(($(date +%s) - START)) s"
cat "$OUT_DIR/$OUT_NAME.md"
