#!/usr/bin/env bash
# cluster.sh: a local snakepit cluster on 127.0.0.1: Redis, N nodes of
# build/snakepit and HAProxy, with the configurations of deploy/.
#
#   cluster.sh up --nodes N --port P --dir DIR
#       starts everything in the background (HAProxy on P, nodes n1..nN and
#       Redis on free ports, data and logs under DIR) and returns once the
#       game answers through HAProxy. Writes DIR/redis.pid, DIR/haproxy.pid
#       and DIR/node-ID.pid.
#   cluster.sh start NAME --dir DIR
#       starts one stopped part again with the same configuration (same
#       port, same data): redis, haproxy or a node id.
#   cluster.sh status --dir DIR
#       prints each part and whether it runs; exits 3 if one does not.
#   cluster.sh down --dir DIR
#       stops everything: HAProxy, then the nodes (SIGTERM: they release
#       their leases), then Redis.
#   cluster.sh run --nodes N --port P --dir DIR
#       up, then waits; Ctrl-C brings it down (make cluster).
#   cluster.sh haproxy-cfg --port P --dir DIR --redis-port R
#                          --server ID=HOST:PORT...
#       only writes DIR/haproxy.cfg from deploy/haproxy.cfg (for tests).
#
# Environment: SNAKEPIT_BIN (default build/snakepit), SNAKEPIT_NODE_ARGS
# (more options for every node, e.g. "--workers 1").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPLOY=$ROOT/deploy

die() { echo "cluster.sh: $*" >&2; exit 2; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 2
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
NODES="" PORT="" DIR="" NAME="" REDIS_PORT_ARG="" SERVERS=()
if [ "$cmd" = start ] && [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  NAME=$1
  shift
fi
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:-}; shift 2 ;;
    --port) PORT=${2:-}; shift 2 ;;
    --dir) DIR=${2:-}; shift 2 ;;
    --redis-port) REDIS_PORT_ARG=${2:-}; shift 2 ;;
    --server) SERVERS+=("${2:-}"); shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$DIR" ] || die "--dir DIR is needed"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

# ---- helpers --------------------------------------------------------

is_num() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; }

# Ports that something listens on, from /proc (no extra tool needed).
listening() {
  local sl local rest st
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    while read -r sl local rest st _; do
      [ "$st" = 0A ] && echo $((16#${local##*:}))
    done
}

# A loopback port nobody listens on, and that we have not handed out. It
# is taken below the kernel's ephemeral range: a port in that range may
# be the local port of any outgoing connection (a client, a node's link to
# Redis), and then Redis cannot bind it.
TAKEN=" "
free_port() {
  local used p i lo=10000 hi
  hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$hi" -gt $((lo + 1000)) ] || { lo=20000 hi=60000; }
  used=" $(listening | tr '\n' ' ') "
  for i in $(seq 1 200); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    case "$used$TAKEN" in *" $p "*) continue ;; esac
    TAKEN="$TAKEN$p "
    echo "$p"
    return 0
  done
  die "no free port found"
}

# Whether process PID runs: a zombie does not (the parts outlive this
# script, so their parent is whoever adopted them, which may reap late).
running() { # running PID
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "${st%% *}" != Z ]
}

# The pid in a pid file if that process is alive and is what we started.
alive_pid() { # alive_pid FILE WHAT
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null || true)
  is_num "$pid" || return 1
  running "$pid" || return 1
  # No pipe into grep -q here: under pipefail its early exit can fail the
  # test when the command line matched.
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  case "$cmd" in *"$2"*) ;; *) return 1 ;; esac
  echo "$pid"
}

# Starts a command in its own session (it outlives this script and the
# terminal), output appended to LOG, its pid in PIDFILE.
launch() { # launch PIDFILE LOG CMD...
  local pidfile=$1 log=$2
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# Waits until CMD succeeds; gives up at once if the process in PIDFILE
# has exited (a port already taken, a bad configuration).
wait_for() { # wait_for SECONDS WHAT PIDFILE CMD...
  local end=$((SECONDS + $1)) what=$2 pidfile=$3
  shift 3
  until "$@" >/dev/null 2>&1; do
    running "$(cat "$pidfile")" || { echo "cluster.sh: $what: the process exited" >&2; return 1; }
    [ $SECONDS -lt $end ] || { echo "cluster.sh: timed out waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}

env_file() { echo "$DIR/cluster.env"; }

load_env() {
  [ -f "$(env_file)" ] || die "no cluster in $DIR (run: cluster.sh up --dir $DIR ...)"
  # shellcheck disable=SC1090
  . "$(env_file)"
}

# ---- the parts ------------------------------------------------------

start_redis() {
  mkdir -p "$DIR/redis"
  launch "$DIR/redis.pid" "$DIR/redis.log" \
    redis-server "$DEPLOY/redis.conf" --port "$REDIS_PORT" --dir "$DIR/redis"
  wait_for 15 "Redis on port $REDIS_PORT" "$DIR/redis.pid" redis-cli -p "$REDIS_PORT" ping ||
    { tail -n 20 "$DIR/redis.log" >&2; return 1; }
}

# Starts node ID; its first start takes a free port (--port 0, read from its
# "listening" log line), later starts take the same port again.
start_node() { # start_node ID
  local id=$1 var port log=$DIR/node-$1.log
  var="NODE_PORT_$id"
  port=${!var:-0}
  mkdir -p "$DIR/$id"
  local before=0
  [ -f "$log" ] && before=$(wc -l <"$log")
  # shellcheck disable=SC2086
  launch "$DIR/node-$id.pid" "$log" "$BIN" --host 127.0.0.1 --port "$port" \
    --data "$DIR/$id" --redis "redis://127.0.0.1:$REDIS_PORT" --node-id "$id" \
    ${SNAKEPIT_NODE_ARGS:-}
  local end=$((SECONDS + 15)) line=""
  while [ -z "$line" ]; do
    line=$(tail -n +"$((before + 1))" "$log" 2>/dev/null | grep -m1 'event=listening' || true)
    if [ -z "$line" ]; then
      # Not alive_pid: until setsid has exec'd the binary, the child's
      # command line is still this script's.
      running "$(cat "$DIR/node-$id.pid")" ||
        { tail -n 20 "$log" >&2; die "node $id did not start"; }
      [ $SECONDS -lt $end ] || die "node $id did not start listening"
      sleep 0.05
    fi
  done
  port=$(echo "$line" | sed -n 's/.* port=\([0-9]*\).*/\1/p')
  is_num "$port" || die "node $id: no port in '$line'"
  if [ "${!var:-0}" = 0 ]; then
    echo "NODE_PORT_$id=$port" >>"$(env_file)"
    printf -v "$var" '%s' "$port"
  fi
}

# Writes DIR/haproxy.cfg from deploy/haproxy.cfg for the given servers
# ("ID=HOST:PORT"), and an empty map if there is none.
render_haproxy() { # render_haproxy PORT REDIS_PORT SERVER...
  local port=$1 rport=$2 lines="" i=0 s
  shift 2
  for s in "$@"; do
    i=$((i + 1))
    lines="$lines    server ${s%%=*} ${s#*=} id $i check\n"
  done
  [ -f "$DIR/rooms.map" ] || : >"$DIR/rooms.map"
  awk -v bind="127.0.0.1:$port" -v dir="$DIR" -v lua="$DEPLOY/haproxy-rooms.lua" \
      -v rport="$rport" -v servers="$lines" '
    { gsub(/@BIND@/, bind); gsub(/@DIR@/, dir); gsub(/@LUA@/, lua)
      gsub(/@REDIS_HOST@/, "127.0.0.1"); gsub(/@REDIS_PORT@/, rport)
      gsub(/@REDIS_DB@/, "0")
      if ($0 == "@SERVERS@") { printf "%s", servers; next }
      print }' "$DEPLOY/haproxy.cfg" >"$DIR/haproxy.cfg"
  haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy rejected $DIR/haproxy.cfg"
}

start_haproxy() {
  launch "$DIR/haproxy.pid" "$DIR/haproxy.log" haproxy -db -f "$DIR/haproxy.cfg"
  wait_for 15 "the game through HAProxy on port $PORT" "$DIR/haproxy.pid" \
    curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz" ||
    { tail -n 20 "$DIR/haproxy.log" >&2; return 1; }
}

part_pidfile() { # part_pidfile NAME
  case "$1" in redis|haproxy) echo "$DIR/$1.pid" ;; *) echo "$DIR/node-$1.pid" ;; esac
}
part_what() {
  case "$1" in redis) echo redis-server ;; haproxy) echo "haproxy -db" ;; *) echo "--node-id $1 " ;; esac
}
parts() { echo redis; for i in $(seq 1 "$NODES"); do echo "n$i"; done; echo haproxy; }

stop_part() { # stop_part NAME
  local f pid i
  f=$(part_pidfile "$1")
  pid=$(alive_pid "$f" "$(part_what "$1")") || { rm -f "$f"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true # a stopped process must wake to exit
  for i in $(seq 1 100); do
    running "$pid" || break
    sleep 0.05
  done
  if running "$pid"; then
    echo "cluster.sh: $1 (pid $pid) ignored SIGTERM for 5 s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# ---- commands -------------------------------------------------------

cmd_up() {
  is_num "$NODES" && [ "$NODES" -ge 1 ] && [ "$NODES" -le 32 ] || die "--nodes N: 1..32"
  is_num "$PORT" && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "--port P: 1..65535"
  BIN=$(cd "$(dirname "${SNAKEPIT_BIN:-$ROOT/build/snakepit}")" && pwd)/$(basename "${SNAKEPIT_BIN:-$ROOT/build/snakepit}")
  [ -x "$BIN" ] || die "no server binary at $BIN (run make)"
  for t in redis-server redis-cli haproxy curl; do
    command -v "$t" >/dev/null || die "$t is missing (scripts/deps.sh cluster)"
  done
  for p in $(parts_running_check); do die "$p is already running in $DIR (cluster.sh down first)"; done
  case " $(listening | tr '\n' ' ') " in *" $PORT "*) die "port $PORT is in use" ;; esac
  TAKEN=" $PORT "
  REDIS_PORT=$(free_port)
  {
    echo "NODES=$NODES"
    echo "PORT=$PORT"
    echo "REDIS_PORT=$REDIS_PORT"
    echo "BIN=$BIN"
  } >"$(env_file)"
  rm -f "$DIR/rooms.map"
  start_redis
  local servers=() i
  for i in $(seq 1 "$NODES"); do
    start_node "n$i"
    local var="NODE_PORT_n$i"
    servers+=("n$i=127.0.0.1:${!var}")
  done
  render_haproxy "$PORT" "$REDIS_PORT" "${servers[@]}"
  start_haproxy
  echo "cluster.sh: up: the game at http://localhost:$PORT (Redis on $REDIS_PORT, logs in $DIR)"
}

# Prints the parts of a previous cluster in DIR that still run.
parts_running_check() {
  [ -f "$(env_file)" ] || return 0
  (
    . "$(env_file)"
    for p in $(parts); do
      alive_pid "$(part_pidfile "$p")" "$(part_what "$p")" >/dev/null && echo "$p"
    done
  ) || true
}

cmd_start() {
  [ -n "$NAME" ] || die "start NAME: redis, haproxy or a node id"
  load_env
  if alive_pid "$(part_pidfile "$NAME")" "$(part_what "$NAME")" >/dev/null; then
    echo "cluster.sh: $NAME is already running"
    return 0
  fi
  case "$NAME" in
    redis) start_redis ;;
    haproxy) start_haproxy ;;
    n[0-9]*)
      local var="NODE_PORT_$NAME"
      [ -n "${!var:-}" ] || die "no node $NAME in this cluster"
      start_node "$NAME" ;;
    *) die "unknown part '$NAME': redis, haproxy or a node id" ;;
  esac
  echo "cluster.sh: $NAME started"
}

cmd_status() {
  load_env
  local bad=0 p pid port var
  for p in $(parts); do
    case "$p" in
      redis) port=$REDIS_PORT ;;
      haproxy) port=$PORT ;;
      *) var="NODE_PORT_$p"; port=${!var:-?} ;;
    esac
    if pid=$(alive_pid "$(part_pidfile "$p")" "$(part_what "$p")"); then
      if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ]; then
        printf '%-8s stopped (SIGSTOP) pid=%s port=%s\n' "$p" "$pid" "$port"
        bad=1
      else
        printf '%-8s running pid=%s port=%s\n' "$p" "$pid" "$port"
      fi
    else
      printf '%-8s not running port=%s\n' "$p" "$port"
      bad=1
    fi
  done
  [ "$bad" = 0 ] || return 3
}

cmd_down() {
  load_env
  local p
  stop_part haproxy
  for p in $(parts); do
    case "$p" in redis|haproxy) ;; *) stop_part "$p" ;; esac
  done
  stop_part redis
  echo "cluster.sh: down"
}

cmd_run() {
  cmd_up
  trap 'echo; cmd_down; exit 0' INT TERM
  echo "cluster.sh: Ctrl-C stops it"
  while :; do sleep 1; done
}

cmd_haproxy_cfg() {
  is_num "$PORT" || die "--port P"
  is_num "$REDIS_PORT_ARG" || die "--redis-port R"
  [ ${#SERVERS[@]} -gt 0 ] || die "--server ID=HOST:PORT (one or more)"
  render_haproxy "$PORT" "$REDIS_PORT_ARG" "${SERVERS[@]}"
  echo "$DIR/haproxy.cfg"
}

case "$cmd" in
  up) cmd_up ;;
  start) cmd_start ;;
  status) cmd_status ;;
  down) cmd_down ;;
  run) cmd_run ;;
  haproxy-cfg) cmd_haproxy_cfg ;;
  *) usage ;;
esac
