#!/usr/bin/env bash
# Ferry HTTP inbound with `serve --workers` (FERRY_WORKERS, default 2) worker processes behind
# node:cluster. Not in the default peer list. See ferry.sh.
FERRY_WORKERS=${FERRY_WORKERS:-2} exec "$(dirname "$0")/ferry.sh" http
