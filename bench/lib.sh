# bench/lib.sh: what run.sh and compare.sh share: starting and stopping a
# fresh server, and the load generator's options for each workload.
# Sourced; the caller sets SERVER (the binary), WORK (a scratch directory),
# TICK (ticks per second) and pin_server (a command prefix, may be empty),
# and defines log().

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

