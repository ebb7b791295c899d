#!/usr/bin/env bash
# WireGuard throughput: Ferry against wireguard-go, through a tunnel between two network namespaces
# joined by veth (the topology of the wireguard-go baseline: 10.201.0.0/24 outside, 10.202.0.0/24
# inside, MTU 1420). iperf3 TCP from A to B, T seconds per run, RUNS runs, median reported.
#
#   npm run bench:wg                 # T=10 RUNS=3
#   T=5 RUNS=1 bash bench/wg/run.sh  # quick look
#   PAIRS="ferry:ferry" bash bench/wg/run.sh
#
# Needs root, wireguard-go, wireguard-tools, iperf3, iproute2, and a built tree (npm run build).
# Standalone: it uses nothing outside this repository but those Debian packages.
set -eu
cd "$(dirname "$0")/../.."
T=${T:-10}
RUNS=${RUNS:-3}
PAIRS=${PAIRS:-"wggo:wggo ferry:ferry ferry:wggo wggo:ferry"}
A=fbwa$$ B=fbwb$$
A=${A:0:12} B=${B:0:12}
FERRY_WG="$(pwd)/dist/src/cli/ferry-wg.js"

for tool in ip wg wireguard-go iperf3 node; do
  command -v $tool >/dev/null || { echo "bench/wg: missing '$tool' (Debian: iproute2 wireguard-tools wireguard-go iperf3)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/wg: needs root (network namespaces, TUN)" >&2; exit 1; }
[ -f "$FERRY_WG" ] || { echo "bench/wg: $FERRY_WG missing: run npm run build" >&2; exit 1; }

cleanup() {
  for n in $A $B; do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  sleep 0.3
  for n in $A $B; do ip netns pids $n 2>/dev/null | xargs -r kill -9 2>/dev/null || true; ip netns del $n 2>/dev/null || true; done
  rm -f /var/run/wireguard/wba$$.sock /var/run/wireguard/wbb$$.sock
}
trap cleanup EXIT

netns_up() {
  cleanup
  ip netns add $A; ip netns add $B
  ip link add va netns $A type veth peer name vb netns $B
  ip -n $A addr add 10.201.0.1/24 dev va; ip -n $B addr add 10.201.0.2/24 dev vb
  for n in $A $B; do ip -n $n link set lo up; done
  ip -n $A link set va up; ip -n $B link set vb up
}

# start_impl NS IMPL IFNAME
start_impl() {
  case $2 in
    wggo) ip netns exec $1 env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=error wireguard-go -f $3 >/dev/null 2>&1 & ;;
    ferry) ip netns exec $1 node "$FERRY_WG" -f $3 >/dev/null 2>&1 & ;;
  esac
  for _ in $(seq 100); do [ -S /var/run/wireguard/$3.sock ] && return 0; sleep 0.1; done
  echo "bench/wg: $2 did not start on $3" >&2; exit 1
}

# iperf_once NS_SERVER NS_CLIENT ADDR -> Mbit/s (receiver side)
iperf_once() {
  ip netns exec $1 iperf3 -s -1 -D -B $3 >/dev/null 2>&1
  sleep 0.3
  ip netns exec $2 iperf3 -c $3 -t $T -f m -J 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.error?0:(j.end.sum_received.bits_per_second/1e6).toFixed(0))})'
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# tunnel IMPL_A IMPL_B -> median Mbit/s
tunnel() {
  netns_up
  local ia=wba$$ ib=wbb$$
  start_impl $A $1 $ia; start_impl $B $2 $ib
  local ka kb pa pb
  ka=$(wg genkey); kb=$(wg genkey); pa=$(echo $ka | wg pubkey); pb=$(echo $kb | wg pubkey)
  ip netns exec $A wg set $ia private-key <(echo $ka) listen-port 51820 peer $pb endpoint 10.201.0.2:51820 allowed-ips 10.202.0.2/32
  ip netns exec $B wg set $ib private-key <(echo $kb) listen-port 51820 peer $pa endpoint 10.201.0.1:51820 allowed-ips 10.202.0.1/32
  ip -n $A addr add 10.202.0.1/24 dev $ia; ip -n $B addr add 10.202.0.2/24 dev $ib
  ip -n $A link set $ia up mtu 1420; ip -n $B link set $ib up mtu 1420
  for _ in $(seq 20); do ip netns exec $A ping -c1 -W1 10.202.0.2 >/dev/null 2>&1 && break; done
  local r=() i
  for i in $(seq $RUNS); do r+=("$(iperf_once $B $A 10.202.0.2)"); done
  echo "    runs: ${r[*]}" >&2
  median "${r[@]}"
}

raw() {
  netns_up
  local r=() i
  for i in $(seq $RUNS); do r+=("$(iperf_once $B $A 10.201.0.2)"); done
  echo "    runs: ${r[*]}" >&2
  median "${r[@]}"
}

label() { case $1 in wggo) echo wireguard-go ;; ferry) echo Ferry ;; esac; }

echo "WireGuard TCP throughput, iperf3 A->B, ${T}s x ${RUNS} runs (median), $(nproc) CPUs"
declare -A RES
echo "  raw veth ..." >&2
RES[raw]=$(raw)
for p in $PAIRS; do
  a=${p%:*} b=${p#*:}
  echo "  $(label $a) -> $(label $b) ..." >&2
  RES[$p]=$(tunnel $a $b)
done
base=${RES[wggo:wggo]:-}
printf '\n%-34s %10s %12s %12s\n' "pair (A sends to B)" "Mbit/s" "vs wg-go" "vs raw"
for p in $PAIRS; do
  a=${p%:*} b=${p#*:}
  v=${RES[$p]}
  vs_go=$([ -n "$base" ] && [ "$base" != 0 ] && awk "BEGIN{printf \"%.2f\", $v/$base}" || echo -)
  printf '%-34s %10s %12s %12s\n' "$(label $a) -> $(label $b)" "$v" "$vs_go" "$(awk "BEGIN{printf \"%.3f\", $v/${RES[raw]}}")"
done
printf '%-34s %10s %12s %12s\n' "raw veth (no tunnel)" "${RES[raw]}" "-" "1.000"
