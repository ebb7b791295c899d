#!/usr/bin/env bash
# ferry.sh http|socks : Ferry from this checkout (dist/, built by run.sh) with an HTTP inbound on
# 127.0.0.1:8090 and a SOCKS inbound on 127.0.0.1:1090, both without auth (as the peers run) and
# loopback destinations allowed. Prints PID=... and PROXY_URL=... for the chosen inbound.
# Environment:
#   FERRY_HTTP_PORT=8090 FERRY_SOCKS_PORT=1090  the two listener ports
#   FERRY_MAIN       another build to run (A/B of a change), default $REPO_DIR/dist/src/cli/main.js
#   FERRY_NODE_ARGS  extra node flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/proxybench/prof"
#   FERRY_WORKERS=N  `ferry serve --workers N`: N worker processes sharing the listeners
#                    (node:cluster, the kernel spreads accepts); the harness measures the whole tree.
#   FERRY_MGMT=1     the management plane's cost: a fresh store with a tier whose limits are set
#                    far above what loopback can move (so the buckets run but never wait), a user
#                    on it, auth required on both inbounds, and `logging: audit` (every session a
#                    record in the store); PROXY_URL carries the user's credentials. (Without it
#                    the store is still opened, but no login exists and nothing is metered.)
#   FERRY_MGMT_LOGGING  the privacy mode with FERRY_MGMT=1 (default audit; minimal isolates auth+tier)
. "$(dirname "$0")/../lib.sh"
MODE=${1:-}
HTTP_PORT=${FERRY_HTTP_PORT:-8090} SOCKS_PORT=${FERRY_SOCKS_PORT:-1090}
case $MODE in
  http) PORT=$HTTP_PORT URL=http://127.0.0.1:$HTTP_PORT ;;
  socks) PORT=$SOCKS_PORT URL=socks5h://127.0.0.1:$SOCKS_PORT ;;
  *) die "usage: $0 http|socks" ;;
esac
MAIN=${FERRY_MAIN:-$REPO_DIR/dist/src/cli/main.js}
[ -f "$MAIN" ] || die "$MAIN missing: build first (npx tsc -p tsconfig.json)"
ensure_dirs; require_free_port $HTTP_PORT; require_free_port $SOCKS_PORT
AUTH=false LOGGING=minimal
if [ "${FERRY_MGMT:-0}" = 1 ]; then
  FERRY_DIR=$RUN_DIR/ferry-mgmt
  rm -rf "$FERRY_DIR"; mkdir -p "$FERRY_DIR"
  node "$MAIN" tier add bench --up 100G --down 100G --max-conns 100000 --data-dir "$FERRY_DIR" >/dev/null \
    || die "ferry tier add failed"
  PW=$(node "$MAIN" user add bencher --tier bench --json --data-dir "$FERRY_DIR" \
    | sed -n 's/.*"password": "\([^"]*\)".*/\1/p')
  [ -n "$PW" ] || die "ferry user add failed"
  URL=${URL/:\/\//:\/\/bencher:$PW@}
  AUTH=true LOGGING=${FERRY_MGMT_LOGGING:-audit}
else
  FERRY_DIR=$RUN_DIR/ferry
  mkdir -p "$FERRY_DIR"
fi
CONF=$FERRY_DIR/ferry.yaml
cat >"$CONF" <<YAML
# written by bench/proxy/peers/ferry.sh
data_dir: $FERRY_DIR
inbounds:
  - { name: http, type: http, listen: "127.0.0.1:$HTTP_PORT", auth: $AUTH }
  - { name: socks, type: socks, listen: "127.0.0.1:$SOCKS_PORT", auth: $AUTH }
router: { allow_destinations: ["127.0.0.0/8"] }
log: { level: warn }
logging: $LOGGING
YAML
# shellcheck disable=SC2206
NODE_ARGS=(${FERRY_NODE_ARGS:-})
NAME=ferry-$MODE
[ "${FERRY_MGMT:-0}" = 1 ] && NAME=$NAME-mgmt   # bench:mgmt runs both at once: a log each
start_bg "$NAME" node "${NODE_ARGS[@]}" "$MAIN" serve --config "$CONF" --drain-timeout 1 \
  --workers "${FERRY_WORKERS:-1}"
wait_port $PORT 30 || { stop_pids $BG_PID; tail -n 20 "$LOG_DIR/$NAME.out" >&2; die "ferry did not listen on $PORT (see $LOG_DIR/$NAME.out)"; }
echo "PID=$BG_PID"
echo "PROXY_URL=$URL"
