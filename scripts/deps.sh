#!/bin/sh
# Installs the Debian packages a target needs, and only those that are missing.
# Usage: scripts/deps.sh build|test|bench|fuzz|deb|cluster
set -eu
build="gcc make pkg-config libuv1-dev libhttp-parser-dev libwslay-dev libssl-dev libjansson-dev libsqlite3-dev libhiredis-dev"
deb="dpkg-dev binutils"
# What a local cluster runs (make cluster, the cluster tests): the real
# Redis and HAProxy from Debian; curl for scripts/cluster.sh's checks.
cluster="redis-server haproxy curl"
case "${1:-build}" in
  build) want="$build" ;;
  test)  want="$build $cluster python3 python3-websockets chromium nodejs npm clang libclang-rt-14-dev valgrind e2fsprogs $deb systemd groff-base man-db strace util-linux iproute2 prometheus" ;;
  cluster) want="$build $cluster" ;;
  bench) want="$build python3 iproute2" ;;
  fuzz)  want="$build clang libclang-rt-14-dev" ;;
  deb)   want="$build $deb" ;;
  *) echo "deps.sh: unknown target '$1'" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  # nodejs/npm may come from outside Debian (nvm, NodeSource): a working
  # command is enough.
  case "$p" in nodejs) command -v node >/dev/null 2>&1 && continue ;; npm) command -v npm >/dev/null 2>&1 && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing$missing" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
