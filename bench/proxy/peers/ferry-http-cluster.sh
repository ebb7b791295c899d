#!/usr/bin/env bash
# Experiment: Ferry HTTP inbound with FERRY_WORKERS (default 2) gateway processes behind
# node:cluster (ferry-cluster.mjs). Not in the default peer list. See ferry.sh.
FERRY_WORKERS=${FERRY_WORKERS:-2} exec "$(dirname "$0")/ferry.sh" http
