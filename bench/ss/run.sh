#!/usr/bin/env bash
# run.sh [PAIR...] — `npm run bench:ss`: bulk throughput of Shadowsocks client+server pairs on
# loopback, each measured through its client's local SOCKS5 port with proxy-bench.sh (1 GiB GET
# from the nginx origin, RUNS times, median), all in one run so that the ratios mean something.
#
# Pairs (default: all):
#   libev-chacha20 libev-aes256gcm           ss-local + ss-server (shadowsocks-libev), the reference
#   ferry-chacha20 ferry-aes256gcm ferry-aes128gcm     Ferry client + Ferry server, same AEAD cipher
#   ferry-2022-aes128 ferry-2022-aes256 ferry-2022-chacha20   Ferry + Ferry, SIP022
#   ferryc-libevs-aes256gcm                  Ferry client + ss-server
#   libevc-ferrys-aes256gcm                  ss-local + Ferry server
#   v2ray-vmess                              v2ray 4.34 VMess pair (the other reference)
# Output: the RESULT lines (also in /tmp/proxybench/ss-<date>.txt) and a table with ratios:
#   vs_libev = MB/s over the libev pair with the same cipher; vs_v2ray = over the VMess pair.
# Knobs: RUNS (default 3), and those of proxy-bench.sh. Needs: nginx, curl, shadowsocks-libev,
# v2ray, a built tree (npm run build). Everything binds to 127.0.0.1; peers are stopped by PID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# The loopback harness (helpers, nginx origin, proxy-bench.sh) is bench/proxy's; only the pair
# configs live here.
. "$HERE/../proxy/lib.sh"
. "$HERE/../proxy/origin.sh"
PEER_DIR=$HERE/peers
ROOT=$(cd "$HERE/../.." && pwd)
export RUNS=${RUNS:-3}

ALL="libev-chacha20 libev-aes256gcm v2ray-vmess ferry-chacha20 ferry-aes256gcm ferry-aes128gcm ferry-2022-aes128 ferry-2022-aes256 ferry-2022-chacha20 ferryc-libevs-aes256gcm libevc-ferrys-aes256gcm"
PAIRS=${*:-$ALL}
SPORT=18531 LPORT=18532   # Shadowsocks server port, client SOCKS5 port (loopback)
PASS=ferry-bench-secret-$$

[ -f "$ROOT/dist/src/server/gateway.js" ] || (cd "$ROOT" && npx tsc -p tsconfig.json) || die "build failed"
for t in nginx curl ss-server ss-local v2ray node; do command -v $t >/dev/null || die "missing $t"; done

method_of() {
  case $1 in
    *2022-aes128*) echo 2022-blake3-aes-128-gcm ;; *2022-aes256*) echo 2022-blake3-aes-256-gcm ;;
    *2022-chacha20*) echo 2022-blake3-chacha20-poly1305 ;;
    *chacha20*) echo chacha20-ietf-poly1305 ;; *aes256gcm*) echo aes-256-gcm ;; *aes128gcm*) echo aes-128-gcm ;;
  esac
}
secret_of() { # 2022 methods take a base64 key of the method's size
  case $1 in
    2022-blake3-aes-128-gcm) head -c 16 /dev/urandom | base64 ;;
    2022-*) head -c 32 /dev/urandom | base64 ;;
    *) echo "$PASS" ;;
  esac
}

ferry_server() { start_bg "ss-$1-server" node "$HERE/ferry-pair.mjs" server "$2" "$3" $SPORT; echo $BG_PID; }
ferry_client() { start_bg "ss-$1-client" node "$HERE/ferry-pair.mjs" client "$2" "$3" $SPORT $LPORT; echo $BG_PID; }
libev_server() { start_bg "ss-$1-server" ss-server -s 127.0.0.1 -p $SPORT -k "$3" -m "$2"; echo $BG_PID; }
libev_client() { start_bg "ss-$1-client" ss-local -s 127.0.0.1 -p $SPORT -b 127.0.0.1 -l $LPORT -k "$3" -m "$2"; echo $BG_PID; }

# start_pair NAME -> sets PAIR_PIDS and PAIR_URL
start_pair() {
  local name=$1 m s spid cpid
  if [ "$name" = v2ray-vmess ]; then
    require_free_port 10086; require_free_port 1084
    start_bg v2ray-server v2ray -config "$PEER_DIR/v2ray-server.json"; spid=$BG_PID
    wait_port 10086 15 || { stop_pids $spid; return 1; }
    start_bg v2ray-client v2ray -config "$PEER_DIR/v2ray-client.json"; cpid=$BG_PID
    wait_port 1084 15 || { stop_pids $spid $cpid; return 1; }
    PAIR_PIDS="$spid $cpid" PAIR_URL=socks5h://127.0.0.1:1084
    return 0
  fi
  m=$(method_of "$name") s=$(secret_of "$m")
  require_free_port $SPORT; require_free_port $LPORT
  case $name in
    libev-*) spid=$(libev_server "$name" "$m" "$s") ;;
    ferryc-libevs-*) spid=$(libev_server "$name" "$m" "$s") ;;
    *) spid=$(ferry_server "$name" "$m" "$s") ;;
  esac
  wait_port $SPORT 20 || { stop_pids $spid; return 1; }
  case $name in
    libev-*|libevc-*) cpid=$(libev_client "$name" "$m" "$s") ;;
    *) cpid=$(ferry_client "$name" "$m" "$s") ;;
  esac
  wait_port $LPORT 20 || { stop_pids $spid $cpid; return 1; }
  PAIR_PIDS="$spid $cpid" PAIR_URL=socks5h://127.0.0.1:$LPORT
}

ensure_dirs
OUT=$RUN_DIR/ss-$(date +%Y%m%d-%H%M%S).txt
STARTED_ORIGIN=0
if ! origin_running && ! port_listening "$ORIGIN_PORT"; then origin_start >/dev/null && STARTED_ORIGIN=1; fi
for p in $PAIRS; do
  echo "== $p" >&2
  if ! start_pair "$p"; then echo "RESULT name=$p metric=start value=FAIL unit=-" | tee -a "$OUT"; continue; fi
  "$HERE/../proxy/proxy-bench.sh" "$p" "$PAIR_URL" --pid "$PAIR_PIDS" --tests bulk | tee -a "$OUT"
  stop_pids $PAIR_PIDS
done
[ $STARTED_ORIGIN = 1 ] && origin_stop

echo
awk '
  $1 == "RESULT" { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    n = f["name"]; if (!(n in seen)) { seen[n] = 1; order[++c] = n } v[n, f["metric"]] = f["value"] }
  function ref(n) { if (n ~ /chacha20$/ && n !~ /2022/) return "libev-chacha20"; if (n ~ /aes256gcm$/) return "libev-aes256gcm"; return "" }
  END {
    vm = v["v2ray-vmess", "bulk_socks5"]
    printf "%-26s %9s %12s %9s %9s\n", "pair", "MB/s", "cpu_s/GB", "vs_libev", "vs_v2ray"
    for (k = 1; k <= c; k++) { n = order[k]; mb = v[n, "bulk_socks5"]
      if (mb == "") { printf "%-26s %9s\n", n, "FAILED"; continue }
      r = ref(n); rl = (r != "" && v[r, "bulk_socks5"] > 0) ? sprintf("%.2fx", mb / v[r, "bulk_socks5"]) : "-"
      rv = (vm > 0) ? sprintf("%.2fx", mb / vm) : "-"
      printf "%-26s %9s %12s %9s %9s\n", n, mb, v[n, "bulk_socks5_cpu"], rl, rv }
  }' "$OUT"
echo "(results: $OUT)"
