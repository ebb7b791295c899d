#!/usr/bin/env bash
# run.sh [PEER...] : `npm run bench:proxy`. Ferry against squid, tinyproxy, danted and microsocks,
# all on loopback, in one run (compare only figures from the same run: client, proxy and origin
# share the CPUs).
#   1. checks the tools (prints the apt-get line for what is missing)
#   2. builds Ferry if dist/ is missing (npx tsc -p tsconfig.json)
#   3. starts the nginx origin on 127.0.0.1:18080 (unless it is already running)
#   4. for each peer (default: direct squid tinyproxy danted microsocks ferry-http ferry-socks)
#      starts peers/<peer>.sh, runs proxy-bench.sh against it (bulk, small, newconn), stops it
#      (by PID); then starts it again for the idle-connection memory test
#   5. prints the compact table (table.sh) and Ferry's ratios against the targets (ratios.sh)
# RESULT lines and both tables -> bench/results/proxy-<date>.txt; full output -> .log beside it.
# Knobs (passed through): RUNS=3 WRK_THREADS=2 WRK_CONNS=50 WRK_DURATION=10 WRK_WARMUP=2
#   IDLE_CONNS=2000 SETTLE_S=3; FERRY_NODE_ARGS / FERRY_WORKERS (see peers/ferry.sh);
#   RESULTS_DIR (default bench/results); TESTS (comma list for proxy-bench.sh --tests).
set -u
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/origin.sh"      # defines origin_start / origin_stop / origin_running

PEERS=("$@")
[ ${#PEERS[@]} -eq 0 ] && PEERS=(direct squid tinyproxy danted microsocks ferry-http ferry-socks)
for p in "${PEERS[@]}"; do [ -x "$PEER_DIR/$p.sh" ] || die "no peer script $PEER_DIR/$p.sh"; done

# ---- 1. tools -------------------------------------------------------------------
need=(nginx:nginx-light wrk:wrk curl:curl python3:python3 ss:iproute2 setsid:util-linux)
for p in "${PEERS[@]}"; do
  case $p in
    squid) need+=(squid:squid) ;;
    tinyproxy) need+=(tinyproxy:tinyproxy) ;;
    danted) need+=(danted:dante-server) ;;
    microsocks) need+=(microsocks:microsocks) ;;
    ferry-*) need+=(node:nodejs) ;;
  esac
done
missing=()
for t in "${need[@]}"; do
  PATH=$PATH:/usr/sbin:/sbin command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing tools; install them with:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
export PATH=$PATH:/usr/sbin:/sbin

# ---- 2. build -------------------------------------------------------------------
if [[ " ${PEERS[*]} " == *" ferry-"* ]] && [ ! -f "$REPO_DIR/dist/src/cli/main.js" ]; then
  echo "building Ferry (dist/ is missing)" >&2
  (cd "$REPO_DIR" && npx tsc -p tsconfig.json) >&2
  [ -f "$REPO_DIR/dist/src/cli/main.js" ] || die "build failed: no dist/src/cli/main.js"
fi

# ---- 3. origin ------------------------------------------------------------------
stamp=$(date +%Y%m%d-%H%M%S)
RESULTS_DIR=${RESULTS_DIR:-$REPO_DIR/bench/results}
mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/proxy-$stamp.txt
LOG=$RESULTS_DIR/proxy-$stamp.log
CUR_PIDS="" STARTED_ORIGIN=0
cleanup() {
  [ -n "$CUR_PIDS" ] && stop_pids $CUR_PIDS
  [ "$STARTED_ORIGIN" = 1 ] && origin_stop 2>>"$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! origin_running; then
  origin_start >>"$LOG" 2>&1 || die "origin did not start (see $LOG)"
  STARTED_ORIGIN=1
fi

ver() { "$@" 2>&1 | head -n 1; }
{
  echo "# bench:proxy $stamp"
  echo "# host: $(uname -r), $(nproc) cpus, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM"
  echo "# ferry: $(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO_DIR" && git diff --quiet HEAD 2>/dev/null || echo '+dirty'), node $(node -v 2>/dev/null)${FERRY_WORKERS:+, FERRY_WORKERS=$FERRY_WORKERS}${FERRY_NODE_ARGS:+, FERRY_NODE_ARGS=$FERRY_NODE_ARGS}"
  echo "# versions: $(ver nginx -v | sed 's/.*: //'); $(squid -v 2>/dev/null | sed -n '1s/.*Version /squid /p'); $(ver tinyproxy -v); $(danted -v 2>&1 | awk 'NR==1{print $1, $2}'); microsocks $(dpkg-query -W -f '${Version}' microsocks 2>/dev/null); $(curl -V | awk 'NR==1{print $1, $2}'); $(wrk -v 2>&1 | awk 'NR==1{print $1, $2}')"
  echo "# settings: RUNS=${RUNS:-3} WRK_THREADS=${WRK_THREADS:-2} WRK_CONNS=${WRK_CONNS:-50} WRK_DURATION=${WRK_DURATION:-10} WRK_WARMUP=${WRK_WARMUP:-2} IDLE_CONNS=${IDLE_CONNS:-2000}"
} | tee "$OUT"

# ---- 4. peers, one at a time ------------------------------------------------------
ALL_TESTS=${TESTS:-bulk,small,newconn,idle}
LOAD_TESTS=$(tr ',' '\n' <<<"$ALL_TESTS" | grep -vx idle | paste -sd, -)
# measure PEER TESTS : start the peer, run proxy-bench.sh with TESTS, stop the peer
measure() {
  local peer=$1 tests=$2 out url
  if ! out=$("$PEER_DIR/$peer.sh" 2>>"$LOG"); then
    echo "RESULT name=$peer metric=start value=FAIL unit=-" | tee -a "$OUT"
    return 1
  fi
  echo "$out" >>"$LOG"
  CUR_PIDS=$(sed -n 's/^PID=//p' <<<"$out")
  url=$(sed -n 's/^PROXY_URL=//p' <<<"$out")
  "$BENCH_DIR/proxy-bench.sh" "$peer" "$url" ${CUR_PIDS:+--pid "$CUR_PIDS"} --tests "$tests" 2>&1 \
    | tee -a "$LOG" | grep --line-buffered '^RESULT' | tee -a "$OUT"
  [ -n "$CUR_PIDS" ] && stop_pids $CUR_PIDS
  CUR_PIDS=""
  sleep "${SETTLE_S:-3}"
}
for peer in "${PEERS[@]}"; do
  echo "=== $peer $(date +%T)" | tee -a "$LOG" >&2
  # Other work on the machine skews every figure: keep the load average beside the results.
  echo "# $peer start $(date +%T) loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
  if [ -n "$LOAD_TESTS" ]; then measure "$peer" "$LOAD_TESTS" || continue; fi
  # The idle-memory test gets a fresh process: after the load tests a garbage-collected heap
  # (Ferry's) may shrink or grow while the tunnels are held, and that is not what it measures.
  if [[ ",$ALL_TESTS," == *,idle,* ]] && [ "$peer" != direct ]; then measure "$peer" idle; fi
done

# ---- 5. tables ------------------------------------------------------------------------
tables=$({ "$BENCH_DIR/table.sh" "$OUT"; echo; "$BENCH_DIR/ratios.sh" "$OUT"; })
sed 's/^/# /' <<<"$tables" >>"$OUT"   # keep the tables with the figures (comment lines)
echo
echo "$tables"
echo
echo "results: $OUT  (full output: $LOG)"
