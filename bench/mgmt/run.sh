#!/usr/bin/env bash
# run.sh : `npm run bench:mgmt`. What the management plane costs the proxy (issue #4's target: at
# most 10 % of throughput and of requests/s).
#
# Two Ferry gateways run side by side from this checkout, with an HTTP and a SOCKS inbound each:
#   base  as bench:proxy runs it: no authentication, `logging: minimal` (peers/ferry.sh)
#   mgmt  FERRY_MGMT=1 in peers/ferry.sh: a fresh store, a user whose login both inbounds require,
#         on a tier whose rates (100 GiB/s) and connection cap are far above what loopback moves
#         (the token buckets run on every read but never make anyone wait), and `logging: audit`
#         (a record per connection in the store, through the writer thread)
# and the same client runs against one and then the other, ROUNDS times, the order reversed every
# other round (A B, B A, ...), so that a drift of the machine's speed hits both alike; both gateways
# are started afresh for every round. Each figure is the median of its rounds; the ratio is mgmt ÷
# base of those medians, and beside it the median of the rounds' own ratios.
#
# Where the machine has two cores or more, both gateways are pinned to CPU 0 and the origin, curl and
# wrk to the others (PIN=0 turns that off): the comparison is of the gateway's CPU per request and
# per byte, and when the client and the origin share its core the figure follows the scheduler more
# than the code (unpinned, single runs of the same build swing by ±10 % here).
#
# Tests (METRICS, comma list; default all):
#   small         wrk, WRK_CONNS keep-alive connections, GET http://127.0.0.1:18080/small (100 B)
#   newconn       the same with "Connection: close": a new client connection per request
#   bulk_connect  curl, /big (1 GiB) through an HTTP CONNECT tunnel
#   bulk_absform  curl, /big through the HTTP proxy in absolute form (GET http://…)
#   bulk_socks5   curl, /big through the SOCKS5 inbound
# Knobs: ROUNDS=7 WRK_DURATION=3 WRK_CONNS=50 WRK_THREADS=2 PIN=1 FERRY_MGMT_LOGGING=audit
#        RESULTS_DIR (default bench/results). Quick check: ROUNDS=1 WRK_DURATION=1 METRICS=small,newconn
# Output: RESULT lines (name=base|mgmt metric=… value=… unit=…, one per round, and the medians
# with round=median), the table, both into bench/results/mgmt-<date>.txt.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../proxy/lib.sh"
. "$BENCH_DIR/origin.sh"

ROUNDS=${ROUNDS:-7} WRK_DURATION=${WRK_DURATION:-3} WRK_CONNS=${WRK_CONNS:-50} WRK_THREADS=${WRK_THREADS:-2}
METRICS=${METRICS:-small,newconn,bulk_connect,bulk_absform,bulk_socks5}
IFS=, read -r -a MLIST <<<"$METRICS"
for m in "${MLIST[@]}"; do
  case $m in small | newconn | bulk_connect | bulk_absform | bulk_socks5) ;; *) die "unknown metric in METRICS: $m" ;; esac
done
PIN=${PIN:-1}
TARGET=0.90

need=(nginx:nginx-light wrk:wrk curl:curl taskset:util-linux setsid:util-linux ss:iproute2 node:nodejs)
missing=()
for t in "${need[@]}"; do
  PATH=$PATH:/usr/sbin:/sbin command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
[ ${#missing[@]} -eq 0 ] || die "missing tools; install them with: apt-get install -y ${missing[*]}"
export PATH=$PATH:/usr/sbin:/sbin

if [ ! -f "$REPO_DIR/dist/src/cli/main.js" ]; then
  echo "building Ferry (dist/ is missing)" >&2
  (cd "$REPO_DIR" && npx tsc -p tsconfig.json) >&2 || die "build failed"
fi

stamp=$(date +%Y%m%d-%H%M%S)
RESULTS_DIR=${RESULTS_DIR:-$REPO_DIR/bench/results}
mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/mgmt-$stamp.txt

STARTED_ORIGIN=0 PIDS=()
cleanup() {
  [ ${#PIDS[@]} -gt 0 ] && stop_pids "${PIDS[@]}"
  [ "$STARTED_ORIGIN" = 1 ] && origin_stop >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! origin_running; then
  origin_start >/dev/null || die "origin did not start"
  STARTED_ORIGIN=1
fi

# ---- the two gateways, started afresh for every round -------------------------------------------
# A process's JIT decisions, heap layout and the like stay with it for its life and move its figures
# by several per cent; rounds with fresh processes average over them, where rounds on the same two
# processes would only repeat them.
NAMES=(base mgmt) HTTP_PORTS=(8090 8091) SOCKS_PORTS=(1090 1091)
HTTP_URLS=() SOCKS_URLS=() AUTHS=()
RUN=()   # prefix for clients
OTHERS=""
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  OTHERS=1; [ "$(nproc)" -gt 2 ] && OTHERS=1-$(($(nproc) - 1))
  for q in $(pid_tree "$(origin_pid)"); do taskset -a -p -c "$OTHERS" "$q" >/dev/null; done
  RUN=(taskset -c "$OTHERS")
  PINNING="gateways on CPU 0, origin and clients on CPUs $OTHERS"
else
  PINNING="none"
fi

start_gateways() {
  local i out url s a env_mgmt q
  PIDS=() HTTP_URLS=() SOCKS_URLS=() AUTHS=()
  for i in 0 1; do
    env_mgmt=()
    [ "$i" = 1 ] && env_mgmt=(FERRY_MGMT=1 "FERRY_MGMT_LOGGING=${FERRY_MGMT_LOGGING:-audit}")
    out=$(env -u FERRY_MGMT "${env_mgmt[@]}" FERRY_HTTP_PORT=${HTTP_PORTS[i]} FERRY_SOCKS_PORT=${SOCKS_PORTS[i]} \
      bash "$PEER_DIR/ferry.sh" http) || die "the ${NAMES[i]} gateway did not start: $out"
    PIDS+=("$(sed -n 's/^PID=//p' <<<"$out")")
    url=$(sed -n 's/^PROXY_URL=//p' <<<"$out")
    HTTP_URLS+=("$url")
    s=socks5h://${url#http://}
    SOCKS_URLS+=("${s%:*}:${SOCKS_PORTS[i]}") # the same login on the SOCKS port
    a=""
    [[ $url =~ ://([^@]*)@ ]] && a=$(printf %s "${BASH_REMATCH[1]}" | base64 -w0)
    AUTHS+=("$a")
    wait_port "${SOCKS_PORTS[i]}" 30 || die "the ${NAMES[i]} gateway did not listen on ${SOCKS_PORTS[i]}"
    if [ -n "$OTHERS" ]; then
      for q in $(pid_tree "${PIDS[i]}"); do taskset -a -p -c 0 "$q" >/dev/null; done
    fi
  done
}

stop_gateways() {
  stop_pids "${PIDS[@]}"
  PIDS=()
}

# ---- one measurement ------------------------------------------------------------------------------
# measure I METRIC -> "value cpu" (value in req/s or MB/s; cpu = the gateway's CPU seconds per
# 1000 requests or per GB)
measure() {
  local i=$1 m=$2 out c0 c1 line v n
  c0=$(cpu_ticks "${PIDS[i]}")
  case $m in
    small | newconn)
      line=$(BENCH_PATH=$ORIGIN_URL/small BENCH_HOST=$ORIGIN_HOST:$ORIGIN_PORT \
        BENCH_CLOSE=$([ "$m" = newconn ] && echo 1 || echo 0) BENCH_PROXY_AUTH=${AUTHS[i]} \
        "${RUN[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_DURATION}s" --timeout 5s \
        -s "$BENCH_DIR/absform.lua" "http://127.0.0.1:${HTTP_PORTS[i]}/" 2>&1 | grep '^WRKRESULT')
      c1=$(cpu_ticks "${PIDS[i]}")
      v=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")
      n=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$line")
      [ -n "$v" ] && [ "${n:-0}" -gt 0 ] || { echo "FAIL -"; return; }
      [ "$(sed -n 's/.* err_status=\([0-9]*\).*/\1/p' <<<"$line")" = 0 ] || { echo "FAIL -"; return; }
      echo "$v $(awk "BEGIN { printf \"%.4f\", ($c1 - $c0) / $CLK_TCK / $n * 1000 }")"
      ;;
    bulk_*)
      local px=(-x "${HTTP_URLS[i]}")
      [ "$m" = bulk_connect ] && px+=(--proxytunnel)
      [ "$m" = bulk_socks5 ] && px=(-x "${SOCKS_URLS[i]}")
      out=$("${RUN[@]}" curl -s -o /dev/null --max-time 300 -w '%{http_code} %{size_download} %{speed_download}' \
        ${BULK_RANGE:+-r "$BULK_RANGE"} "${px[@]}" "$ORIGIN_URL/big")
      [ -n "${BULK_RANGE:-}" ] && { echo "warm -"; return; }
      c1=$(cpu_ticks "${PIDS[i]}")
      read -r code size speed <<<"$out"
      [ "$code" = 200 ] && [ "$size" = "$BIG_SIZE" ] || { echo "FAIL -"; return; }
      echo "$(awk "BEGIN { printf \"%.1f\", $speed / 1e6 }") $(awk "BEGIN { printf \"%.3f\", ($c1 - $c0) / $CLK_TCK / ($BIG_SIZE / 1e9) }")"
      ;;
  esac
}
unit_of() { case $1 in small | newconn) echo "req/s cpu-s/1000req" ;; *) echo "MB/s cpu-s/GB" ;; esac; }

{
  echo "# bench:mgmt $stamp  rounds=$ROUNDS wrk=${WRK_THREADS}t/${WRK_CONNS}c/${WRK_DURATION}s pinning: $PINNING"
  echo "# mgmt: auth (store user) + tier (100 GiB/s, 100000 conns) + logging ${FERRY_MGMT_LOGGING:-audit}; base: no auth, logging minimal"
  echo "# loadavg $(cut -d' ' -f1-3 /proc/loadavg)  commit $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null)"
} | tee "$OUT"

declare -A VAL CPU
for ((r = 0; r < ROUNDS; r++)); do
  start_gateways
  # warm-up of every path measured (JIT, pools): 2 s of wrk, 64 MiB of each bulk download
  for i in 0 1; do for m in "${MLIST[@]}"; do
    case $m in
      small | newconn) WRK_DURATION=2 measure "$i" "$m" >/dev/null ;;
      *) BULK_RANGE=0-67108863 measure "$i" "$m" >/dev/null ;;
    esac
  done; done
  order=(0 1); ((r % 2)) && order=(1 0)
  for m in "${MLIST[@]}"; do
    for i in "${order[@]}"; do
      read -r v c <<<"$(measure "$i" "$m")"
      VAL[$i,$m,$r]=$v CPU[$i,$m,$r]=$c
      read -r u cu <<<"$(unit_of "$m")"
      echo "RESULT name=${NAMES[i]} metric=$m round=$r value=$v unit=$u cpu=$c cpu_unit=$cu" >>"$OUT"
    done
  done
  stop_gateways
  echo "round $((r + 1))/$ROUNDS done" >&2
done

# ---- the table ------------------------------------------------------------------------------------
{
  printf '%-13s %-6s %11s %11s %7s %12s  %-8s %s\n' metric unit base mgmt ratio 'round ratio' target 'cpu base / mgmt'
  for m in "${MLIST[@]}"; do
    a=() b=() ca=() cb=() rr=() fail=0
    for ((r = 0; r < ROUNDS; r++)); do
      [ "${VAL[0,$m,$r]}" = FAIL ] || [ "${VAL[1,$m,$r]}" = FAIL ] && { fail=1; continue; }
      a+=("${VAL[0,$m,$r]}") b+=("${VAL[1,$m,$r]}") ca+=("${CPU[0,$m,$r]}") cb+=("${CPU[1,$m,$r]}")
      rr+=("$(awk "BEGIN { printf \"%.3f\", ${VAL[1,$m,$r]} / ${VAL[0,$m,$r]} }")")
    done
    read -r u cu <<<"$(unit_of "$m")"
    if [ ${#a[@]} -eq 0 ]; then
      printf '%-13s %-6s %11s %11s %7s %12s  %-8s\n' "$m" "$u" FAIL FAIL - - FAILED
      continue
    fi
    ma=$(median "${a[@]}") mb=$(median "${b[@]}")
    ratio=$(awk "BEGIN { printf \"%.3f\", $mb / $ma }")
    st=$(awk "BEGIN { print ($ratio >= $TARGET) ? \"met\" : \"MISSED\" }")
    [ "$fail" = 1 ] && st="$st (some rounds failed)"
    echo "RESULT name=base metric=$m round=median value=$ma unit=$u cpu=$(median "${ca[@]}")" >>"$OUT"
    echo "RESULT name=mgmt metric=$m round=median value=$mb unit=$u cpu=$(median "${cb[@]}")" >>"$OUT"
    printf '%-13s %-6s %11s %11s %7s %12s  %-8s %s / %s %s\n' "$m" "$u" "$ma" "$mb" "$ratio" "$(median "${rr[@]}")" \
      "$st" "$(median "${ca[@]}")" "$(median "${cb[@]}")" "$cu"
  done
  echo "(ratio = mgmt ÷ base of the medians; round ratio = median of the rounds' own ratios; target ≥ $TARGET)"
} | sed 's/^/# /' | tee -a "$OUT" | sed 's/^# //'
echo "results: $OUT"
