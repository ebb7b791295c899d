# lib.sh - helpers for the proxy benchmark harness (bench/proxy). Source it; do not run it.
# Adapted from the team's shared loopback benchmark harness.
# Everything listens on 127.0.0.1 only. Runtime state (pid files, logs, the
# 1 GiB payload) lives under RUN_DIR; the static configs hard-code that path.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/../.." && pwd)   # the Ferry checkout (dist/ is built here)
PEER_DIR=$BENCH_DIR/peers
RUN_DIR=/tmp/proxybench            # fixed: referenced by origin.nginx.conf and peers/*.conf
LOG_DIR=$RUN_DIR/logs
PID_DIR=$RUN_DIR/run
ORIGIN_HOST=127.0.0.1
ORIGIN_PORT=18080                  # fixed: must match origin.nginx.conf
ORIGIN_URL=http://$ORIGIN_HOST:$ORIGIN_PORT
BIG_SIZE=1073741824                # /big is exactly 1 GiB
SMALL_SIZE=100                     # /small is exactly 100 bytes
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
CLK_TCK=$(getconf CLK_TCK)

die()  { echo "ERROR: $*" >&2; exit 1; }

ensure_dirs() {
  mkdir -p "$LOG_DIR" "$PID_DIR"
  chmod 755 "$RUN_DIR"
  # squid/tinyproxy/danted drop privileges; let them write their logs/pid files
  chmod 1777 "$LOG_DIR" "$PID_DIR"
}

# true if something is listening on TCP port $1 (any local address)
port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# wait_port PORT [TIMEOUT_S]
wait_port() {
  local port=$1 t=${2:-15} i
  for ((i = 0; i < t * 10; i++)); do
    port_listening "$port" && return 0
    sleep 0.1
  done
  return 1
}

require_free_port() { port_listening "$1" && die "TCP port $1 is already in use"; return 0; }

# pid_tree PID... -> the given live PIDs plus all their descendants
pid_tree() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, /[ ,]+/); for (i = 1; i <= n; i++) if (r[i] != "") keep[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
      changed = 1
      while (changed) {
        changed = 0
        for (c in parent) if (!(c in keep) && (parent[c] in keep)) { keep[c] = 1; changed = 1 }
      }
      for (k in keep) if (k in parent) print k
    }'
}

# is PID alive (and not a zombie)?
pid_alive() {
  local st
  st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# stop_pids PID... : SIGTERM the PIDs and their descendants (by PID), SIGKILL after 5 s
stop_pids() {
  local pids alive p i
  pids=$(pid_tree "$@")
  [ -z "$pids" ] && return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    alive=""
    for p in $pids; do pid_alive "$p" && alive="$alive $p"; done
    [ -z "$alive" ] && return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $alive 2>/dev/null
  sleep 0.2
  return 0
}

# sum over a process tree of a /proc field (kB)
_sum_proc_kb() { # file key pids...
  local file=$1 key=$2 s=0 v pid; shift 2
  for pid in $(pid_tree "$@"); do
    v=$(awk -v k="$key:" '$1 == k { print $2; exit }' "/proc/$pid/$file" 2>/dev/null)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}
rss_kb() { _sum_proc_kb status VmRSS "$@"; }          # resident set, summed over the tree
pss_kb() { _sum_proc_kb smaps_rollup Pss "$@"; }      # proportional set (shared pages split)
hwm_kb() { _sum_proc_kb status VmHWM "$@"; }          # peak RSS per process, summed

# cpu_ticks PID... -> utime+stime(+reaped children) summed over the tree, in clock ticks
cpu_ticks() {
  local s=0 v pid
  for pid in $(pid_tree "$@"); do
    v=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }')
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

# threads PID... -> number of processes and threads in the tree
tree_counts() {
  local np=0 nt=0 v pid
  for pid in $(pid_tree "$@"); do
    v=$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
    np=$((np + 1)); nt=$((nt + ${v:-0}))
  done
  echo "procs=$np threads=$nt"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# start_bg NAME CMD ARGS... : run a peer in its own session, output to LOG_DIR/NAME.out; sets BG_PID
start_bg() {
  local name=$1; shift
  (cd "$PID_DIR" && exec setsid "$@" >"$LOG_DIR/$name.out" 2>&1 </dev/null) &
  BG_PID=$!
}
