#!/usr/bin/env bash
# bench/pool/run.sh — what a rotating exit pool costs.
#
# Requests/s of small keep-alive requests (wrk, absolute-form GET of a 100-byte page) through
#   one:  Ferry HTTP inbound → one SOCKS5 upstream (microsocks) → origin
#   pool: Ferry HTTP inbound → pool of 4 SOCKS5 upstreams (4 microsocks), rotation: request → origin
#   same: Ferry HTTP inbound → pool of 4 members that are all the *one* upstream, rotation: request
# in the same run, alternating ROUNDS times; prints the medians, pool/one and same/one. The issue's
# target: the pool costs ≤ 15 % (ratio ≥ 0.85). When the single upstream is the bottleneck, pool/one
# exceeds 1 (four upstreams serve more than one) and says little about the pool itself; same/one
# holds the upstream capacity equal and measures only what rotation costs in Ferry.
#
# Standalone: everything on 127.0.0.1 ports 21080-21099, runtime files in /tmp/ferry-poolbench.
# Needs nginx, microsocks, wrk and a built dist/ (npm run build).
# Knobs: ROUNDS=3 DURATION=8 CONNS=32 THREADS=1
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=/tmp/ferry-poolbench
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-8} CONNS=${CONNS:-32} THREADS=${THREADS:-1}
ORIGIN_PORT=21080 ONE_PORT=21090 POOL_PORT=21091 SAME_PORT=21092
PIDS=()

die() { echo "ERROR: $*" >&2; exit 1; }
for t in nginx microsocks wrk node; do command -v $t >/dev/null || die "$t is not installed"; done
[ -f "$REPO/dist/src/cli/main.js" ] || die "build first: npm run build"
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f $RUN/nginx.pid ] && kill "$(cat $RUN/nginx.pid)" 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; die "nothing listens on port $1"; }

rm -rf "$RUN" && mkdir -p "$RUN/www" && printf '%0100d' 0 >"$RUN/www/small"
cat >"$RUN/nginx.conf" <<NGINX
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$ORIGIN_PORT; root $RUN/www; location / { } }
}
NGINX
nginx -p "$RUN" -c "$RUN/nginx.conf"
wait_port $ORIGIN_PORT

for i in 1 2 3 4; do
  microsocks -i 127.0.0.1 -p $((21080 + i)) >/dev/null 2>&1 &
  PIDS+=($!)
  wait_port $((21080 + i))
done

cat >"$RUN/ferry.json" <<JSON
{
  "data_dir": "$RUN/ferry",
  "log": { "level": "warn" },
  "inbounds": [
    { "name": "one", "type": "http", "listen": "127.0.0.1:$ONE_PORT", "auth": false },
    { "name": "pool", "type": "http", "listen": "127.0.0.1:$POOL_PORT", "auth": false },
    { "name": "same", "type": "http", "listen": "127.0.0.1:$SAME_PORT", "auth": false }
  ],
  "outbounds": [
    { "name": "u1", "type": "socks5", "server": "127.0.0.1:21081" },
    { "name": "u2", "type": "socks5", "server": "127.0.0.1:21082" },
    { "name": "u3", "type": "socks5", "server": "127.0.0.1:21083" },
    { "name": "u4", "type": "socks5", "server": "127.0.0.1:21084" },
    { "name": "rotating", "type": "pool", "members": ["u1", "u2", "u3", "u4"], "rotation": "request" },
    { "name": "s1", "type": "socks5", "server": "127.0.0.1:21081" },
    { "name": "s2", "type": "socks5", "server": "127.0.0.1:21081" },
    { "name": "s3", "type": "socks5", "server": "127.0.0.1:21081" },
    { "name": "s4", "type": "socks5", "server": "127.0.0.1:21081" },
    { "name": "rotating-same", "type": "pool", "members": ["s1", "s2", "s3", "s4"], "rotation": "request" }
  ],
  "router": {
    "default": "u1",
    "allow_destinations": ["127.0.0.0/8"],
    "rules": [
      { "inbounds": ["pool"], "action": "rotating" },
      { "inbounds": ["same"], "action": "rotating-same" }
    ]
  }
}
JSON
node "$REPO/dist/src/cli/main.js" serve -c "$RUN/ferry.json" >"$RUN/ferry.log" 2>&1 &
PIDS+=($!)
wait_port $POOL_PORT

URL="http://127.0.0.1:$ORIGIN_PORT/small"
for p in $ONE_PORT $POOL_PORT $SAME_PORT; do
  curl -sf -o /dev/null -x "http://127.0.0.1:$p" "$URL" || die "sanity request through port $p failed"
done

rps() { # PORT → requests/s (non-2xx responses and socket errors make the run fail)
  local out
  out=$(BENCH_PATH=$URL BENCH_HOST=127.0.0.1:$ORIGIN_PORT wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" \
    -s "$REPO/bench/proxy/absform.lua" "http://127.0.0.1:$1" 2>&1)
  local line; line=$(grep WRKRESULT <<<"$out") || die "wrk failed: $out"
  local errs; errs=$(sed -E 's/.*err_connect=([0-9]+) err_read=([0-9]+) err_write=([0-9]+) err_status=([0-9]+) err_timeout=([0-9]+).*/\1+\2+\3+\4+\5/' <<<"$line")
  [ "$(( errs ))" -eq 0 ] || echo "WARN port $1: errors $errs" >&2
  sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Warm-up (JIT, keep-alive pools), then alternate so drift hits both alike.
BENCH_PATH=$URL BENCH_HOST=127.0.0.1:$ORIGIN_PORT wrk -t1 -c"$CONNS" -d2s -s "$REPO/bench/proxy/absform.lua" "http://127.0.0.1:$ONE_PORT" >/dev/null
BENCH_PATH=$URL BENCH_HOST=127.0.0.1:$ORIGIN_PORT wrk -t1 -c"$CONNS" -d2s -s "$REPO/bench/proxy/absform.lua" "http://127.0.0.1:$POOL_PORT" >/dev/null
BENCH_PATH=$URL BENCH_HOST=127.0.0.1:$ORIGIN_PORT wrk -t1 -c"$CONNS" -d2s -s "$REPO/bench/proxy/absform.lua" "http://127.0.0.1:$SAME_PORT" >/dev/null
ONE=() POOL=() SAME=()
for r in $(seq "$ROUNDS"); do
  ONE+=("$(rps $ONE_PORT)")
  POOL+=("$(rps $POOL_PORT)")
  SAME+=("$(rps $SAME_PORT)")
  echo "round $r: one=${ONE[-1]} req/s  pool=${POOL[-1]} req/s  same=${SAME[-1]} req/s" >&2
done
# Upstream connections the pool opened (each costs a TCP + SOCKS5 handshake): few means keep-alive
# reuse per exit works; one per request means it does not.
dials=$(node "$REPO/dist/src/cli/main.js" exits --data-dir "$RUN/ferry" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.pools[0].members.map(m=>m.name+"="+m.ok).join(" "))})')
echo "INFO pool upstream connections opened: $dials" >&2
m1=$(printf '%s\n' "${ONE[@]}" | median)
m2=$(printf '%s\n' "${POOL[@]}" | median)
m3=$(printf '%s\n' "${SAME[@]}" | median)
ratio=$(awk "BEGIN { printf \"%.3f\", $m2 / $m1 }")
same=$(awk "BEGIN { printf \"%.3f\", $m3 / $m1 }")
echo "RESULT name=pool-bench metric=one_upstream_rps value=$m1 unit=req/s"
echo "RESULT name=pool-bench metric=pool4_request_rotation_rps value=$m2 unit=req/s"
echo "RESULT name=pool-bench metric=pool4_same_upstream_rps value=$m3 unit=req/s"
echo "RESULT name=pool-bench metric=pool_over_one value=$ratio unit=ratio"
echo "RESULT name=pool-bench metric=same_over_one value=$same unit=ratio"
awk "BEGIN { exit !($ratio >= 0.85) }" && echo "target (pool costs <= 15%): met" || echo "target (pool costs <= 15%): MISSED"
echo "INFO rotation alone (same upstream capacity): same/one = $same"
