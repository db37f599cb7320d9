#!/usr/bin/env bash
# Browser tests of the web client: headless Chromium (Debian's `chromium`)
# driven by playwright-core (pinned in package-lock.json) against the real
# server ${SNAKEPIT_BIN:-build/snakepit}. Last line: "N passed, M failed".
# Usage: tests/browser/run.sh [TEST NAME...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ ! -d "$here/node_modules/playwright-core" ]; then
  if ! (cd "$here" && npm ci --no-audit --no-fund); then
    echo "browser: npm ci failed"
    echo "0 passed, 1 failed"
    exit 1
  fi
fi
cd "$root"
out=$(mktemp)
node "$here/test_client.js" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# A crash of node itself leaves no summary: make sure one is the last line.
if ! tail -n 1 "$out" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
  echo "browser: node exited $rc without a summary"
  echo "0 passed, 1 failed"
  rc=1
fi
rm -f "$out"
exit "$rc"
