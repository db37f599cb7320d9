#!/usr/bin/env bash
# Two servers under the same load, runs alternating on fresh servers, so that
# the machine's noise hits both: the medians of each figure and their ratio.
# For "is this commit faster than that one" on a shared machine, where figures
# of two separate `make bench` runs cannot be compared.
#
#   bench/compare.sh BASE_BINARY NEW_BINARY [RUNS]
#   BENCH_COMPARE="w1:3000 w2:2000 w3:10000" (the default) picks workloads:N
#
# Example (the server before issue 11 against today's):
#   git worktree add --detach /tmp/base 70b6ec4 && make -C /tmp/base -j2 all
#   bench/compare.sh /tmp/base/build/snakepit build/snakepit
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=${BENCH_BIN_DIR:-$HERE/../build/bench}/snakepit-bench
[ $# -ge 2 ] || { echo "usage: $0 BASE_BINARY NEW_BINARY [RUNS]" >&2; exit 2; }
BASE=$1 NEW=$2 RUNS=${3:-3}
SPECS=${BENCH_COMPARE:-"w1:3000 w2:2000 w3:10000"}
OUT=$(mktemp)
WORK=$(mktemp -d /tmp/snakepit-compare.XXXXXX)
TICK=20 pin_server=() SRV_PID=""
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cleanup() {
	if [ -n "$SRV_PID" ]; then kill -KILL "$SRV_PID" 2>/dev/null || true; fi
	rm -rf "$OUT" "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

one() { # one TAG BINARY WORKLOAD N: a fresh server, one run, one JSON line
	local tag=$1 w=$3 n=$4 warm=5 dur=20
	SERVER=$2
	[ "$w" = w3 ] && warm=2 dur=3 # idle: only the memory matters
	start_server "$tag-$w-$n" || return 0
	# shellcheck disable=SC2046
	"$BENCH" "ws://127.0.0.1:$SRV_PORT/connect" $(bench_args "$w" "$n") --warmup $warm \
		--duration $dur --tick-rate "$TICK" --connect-rate 2000 --server-pid "$SRV_PID" \
		--json 2>/dev/null | tail -n 1 | sed "s/^/$tag $w $n /" >>"$OUT" || true
	stop_server
	[ "$SRV_STATUS" = ok ] || log "$tag server: $SRV_STATUS"
}

for r in $(seq "$RUNS"); do
	for spec in $SPECS; do
		# The order swaps run by run: neither server always goes first.
		if [ $((r % 2)) = 1 ]; then
			one base "$BASE" "${spec%%:*}" "${spec#*:}"
			one new "$NEW" "${spec%%:*}" "${spec#*:}"
		else
			one new "$NEW" "${spec%%:*}" "${spec#*:}"
			one base "$BASE" "${spec%%:*}" "${spec#*:}"
		fi
		printf '%s run %d/%d %s done\n' "$(date +%H:%M:%S)" "$r" "$RUNS" "$spec" >&2
	done
done

/usr/bin/python3 - "$OUT" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    tag, w, n, js = line.split(" ", 3)
    try:
        runs.setdefault((w, int(n), tag), []).append(json.loads(js))
    except ValueError:
        pass
FIGS = [("gap_p99_ms", "gap p99 ms"), ("key_p99_ms", "key-to-effect p99 ms"),
        ("server_cpu_us_per_msg", "server CPU µs per message"), ("server_cpu_pct", "server CPU %"),
        ("server_rss_per_conn_bytes", "RSS per connection B"), ("loss_ratio", "lost"),
        ("msgs_per_s", "delivered msg/s")]
def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None
print("| workload | figure | base | new | new / base |")
print("| --- | --- | ---: | ---: | ---: |")
for w, n in sorted({(w, n) for w, n, _ in runs}):
    b, x = runs.get((w, n, "base"), []), runs.get((w, n, "new"), [])
    for k, label in FIGS:
        mb, mx = med(b, k), med(x, k)
        if mb is None and mx is None:
            continue
        ratio = f"{mx / mb:.2f}" if mb and mx is not None else "–"
        fmt = (lambda v: "–" if v is None else f"{v:.4f}") if k == "loss_ratio" else \
              (lambda v: "–" if v is None else f"{v:.1f}")
        print(f"| {w.upper()} N={n} ({len(b)}/{len(x)} runs) | {label} | {fmt(mb)} | {fmt(mx)} | {ratio} |")
EOF
