#!/usr/bin/env bash
# run.sh : `npm run bench:mgmt`. The management plane's cost on the proxy benchmark: Ferry's HTTP and
# SOCKS inbounds as bench:proxy runs them (no auth, logging minimal) against the same inbounds with
# authentication by a store user, a tier whose rate limits are set far above what loopback moves
# (the token buckets run on every chunk but never make anyone wait), and `logging: audit` (a record
# per session in the store). Target (issue #4): the management plane costs <= 10% of throughput and
# requests/s.
#
# It is bench/proxy/run.sh with four peers (ferry-http, ferry-http-mgmt, ferry-socks,
# ferry-socks-mgmt) — same origin, same knobs (RUNS, WRK_DURATION, TESTS, FERRY_WORKERS, ...) —
# followed by compare.sh on its results file. A quick check of the harness:
#   RUNS=1 WRK_DURATION=2 WRK_WARMUP=1 TESTS=small,newconn bench/mgmt/run.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
RESULTS_DIR=${RESULTS_DIR:-$here/../results}
export RESULTS_DIR
out=$(bash "$here/../proxy/run.sh" ferry-http ferry-http-mgmt ferry-socks ferry-socks-mgmt) || {
  echo "$out"
  exit 1
}
echo "$out" | tail -n 1
file=$(sed -n 's/^results: \([^ ]*\).*/\1/p' <<<"$out")
[ -f "$file" ] || { echo "no results file in the output" >&2; exit 1; }
echo
"$here/compare.sh" "$file" | tee -a "$file.mgmt"
