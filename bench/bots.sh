#!/usr/bin/env bash
# The bots benchmark of issue 6: what 9 bots on a 200x100 field cost the
# loop thread, against the same room without bots.
#
#   bench/bots.sh                 20 s windows (BENCH_QUICK=1: 5 s)
#
# For each run, one server with --bots 9 and then one with --bots 0 (same
# field, tick rate 20), each with one human player (snakepit-bench --clients 1
# --players 1: it joins again 0.5 s after dying, and bots only play while a human
# snake lives). Over the window it takes the deltas of GET /api/stats: ticks
# and the loop-thread CPU they took (tick_ns), bot searches and the time they
# took on the thread pool (bot_search_ns), late answers (bot_late), and the
# server's CPU time from /proc. Prints one JSON line per server on stdout
# ({"kind":"bots",...}, read by report.py) and a digest on stderr.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${BENCH_BIN_DIR:-$ROOT/build/bench}
SERVER=${BENCH_SERVER:-$ROOT/build/snakepit}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	DURATION=${BENCH_BOTS_DURATION:-5}
else
	DURATION=${BENCH_BOTS_DURATION:-20}
fi
WARMUP=${BENCH_BOTS_WARMUP:-2}
RUNS=${BENCH_BOTS_RUNS:-1}
FIELD=${BENCH_BOTS_FIELD:-200x100}
NBOTS=${BENCH_BOTS:-9}
TICK=${BENCH_TICK_RATE:-20}
# The human joins again this long after dying (the room stops meanwhile).
REJOIN=${BENCH_BOTS_REJOIN_MS:-500}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ -x "$BIN/snakepit-bench" ] || make -s -C "$HERE" all
[ -x "$SERVER" ] || make -s -C "$ROOT" all

WORK=$(mktemp -d /tmp/snakepit-bots.XXXXXX)
SRV_PID="" GEN_PID=""
cleanup() {
	local p
	for p in "$GEN_PID" "$SRV_PID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "bots: logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# snap PORT PID: one JSON object with the time, /api/stats, /api/rooms and
# the server's CPU seconds.
snap() {
	"$PY" - "$1" "$2" <<'EOF'
import json, os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
def get(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return json.loads(r.read().decode())
    except Exception:
        return None
cpu = None
try:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
except Exception:
    pass
print(json.dumps({"t": time.monotonic(), "cpu_s": cpu, "stats": get("/api/stats"),
                  "rooms": get("/api/rooms")}))
EOF
}

# one BOTS RUN: one server, one human, one window; prints the JSON line.
one() {
	local nb=$1 run=$2 tag="$1-$2" log port="" s0 s1 t0 bench
	log=$WORK/server-$tag.log
	mkdir -p "$WORK/data-$tag"
	# shellcheck disable=SC2086
	"$SERVER" --host 127.0.0.1 --port 0 --data "$WORK/data-$tag" --tick-rate "$TICK" \
		--max-players 10 --log-level warn ${BENCH_SERVER_ARGS:-} --field "$FIELD" --bots "$nb" \
		2>"$log" >/dev/null &
	SRV_PID=$!
	for _ in $(seq 100); do
		port=$(ss -Hltnp 2>/dev/null | grep "pid=$SRV_PID," | awk '{print $4}' | sed 's/.*://' | head -n1 || true)
		[ -n "$port" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		log "bots: server did not start; its log:"
		tail -n 20 "$log" >&2 || true
		printf '{"kind":"bots","bots":%d,"run":%d,"server":"no-start"}\n' "$nb" "$run"
		SRV_PID=""
		return 0
	fi
	t0=$(date +%s.%N)
	"$BIN/snakepit-bench" "ws://127.0.0.1:$port/connect" --clients 1 --players 1 --rooms 1 \
		--room-prefix bots- --rejoin-delay "$REJOIN" --warmup "$WARMUP" --duration "$DURATION" --tick-rate "$TICK" \
		--server-pid "$SRV_PID" --json >"$WORK/bench-$tag.json" 2>"$WORK/bench-$tag.log" &
	GEN_PID=$!
	# The generator's window starts after its warm-up (one connection opens in
	# milliseconds): take the server's counters over the same window.
	sleep "$(awk -v t0="$t0" -v w="$WARMUP" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + w - now; print (d > 0 ? d : 0) }')"
	s0=$(snap "$port" "$SRV_PID")
	sleep "$DURATION"
	s1=$(snap "$port" "$SRV_PID")
	wait "$GEN_PID" 2>/dev/null || true
	GEN_PID=""
	bench=$(tail -n 1 "$WORK/bench-$tag.json" 2>/dev/null || true)
	case $bench in "{"*) ;; *) bench=null ;; esac
	kill -TERM "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
	"$PY" - "$nb" "$run" "$FIELD" "$TICK" "$REJOIN" "$s0" "$s1" "$bench" <<'EOF'
import json, sys
nb, run, field, tick, rejoin = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
s0, s1, bench = (json.loads(a) for a in sys.argv[6:9])
row = {"kind": "bots", "bots": nb, "run": run, "field": field, "tick_rate": tick, "rejoin_ms": rejoin,
       "server": "ok"}
a, b = (s0 or {}).get("stats"), (s1 or {}).get("stats")
if not a or not b:
    row["server"] = "no-stats"
else:
    win = s1["t"] - s0["t"]
    d = {k: b[k] - a[k] for k in ("ticks", "tick_ns", "bot_searches", "bot_search_ns", "bot_late")}
    ticks, searches = d["ticks"], d["bot_searches"]
    cpu = s1["cpu_s"] - s0["cpu_s"] if s0["cpu_s"] is not None and s1["cpu_s"] is not None else None
    row.update({
        "workers": b.get("workers"), "window_s": round(win, 3),
        "ticks": ticks, "tick_ns": d["tick_ns"],
        "tick_us_per_tick": d["tick_ns"] / ticks / 1e3 if ticks else None,
        "ticking_share": ticks / (win * tick) if win > 0 else None,
        "searches": searches, "search_ns": d["bot_search_ns"],
        "searches_per_tick": searches / ticks if ticks else None,
        "search_us_per_search": d["bot_search_ns"] / searches / 1e3 if searches else None,
        "search_us_per_tick": d["bot_search_ns"] / ticks / 1e3 if ticks else None,
        "late": d["bot_late"],
        "late_per_search": d["bot_late"] / searches if searches else None,
        "server_cpu_s": cpu,
        "server_cpu_pct": 100 * cpu / win if cpu is not None and win > 0 else None,
        "server_cpu_us_per_tick": cpu * 1e6 / ticks if cpu is not None and ticks else None,
        "snakes_at_end": sum(r.get("snakes", 0) for r in ((s1.get("rooms") or {}).get("rooms") or [])),
    })
if bench:
    for k in ("gap_p50_ms", "gap_p99_ms", "gap_max_ms", "key_p99_ms", "deaths", "joins_sent",
              "msgs_per_s", "bench_cpu_pct", "machine_cpu_pct"):
        row["human_" + k] = bench.get(k)
print(json.dumps(row))
EOF
}

digest() {
	"$PY" -c '
import json, sys
r = json.loads(sys.argv[1])
f = lambda k, s="%.1f": (s % r[k]) if r.get(k) is not None else "-"
print("bots %d: %s ticks (%s of the ticks due), tick CPU %s us/tick on the loop; %s searches (%s/tick), %s us each on the pool, %s late; server CPU %s%%, human gap p99 %s ms" % (
    r["bots"], f("ticks", "%d"), f("ticking_share", "%.2f"), f("tick_us_per_tick"),
    f("searches", "%d"), f("searches_per_tick", "%.2f"), f("search_us_per_search"), f("late", "%d"),
    f("server_cpu_pct", "%.0f"), f("human_gap_p99_ms")))
' "$1"
}

log "bots: field $FIELD, tick $TICK Hz, $NBOTS bots vs none, one human, ${DURATION}s windows, $RUNS run(s)"
for run in $(seq "$RUNS"); do
	for nb in "$NBOTS" 0; do
		log "bots=$nb run $run/$RUNS"
		line=$(one "$nb" "$run")
		echo "$line"
		log "  $(digest "$line" 2>/dev/null || echo "no result")"
	done
done
