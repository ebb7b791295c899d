#!/usr/bin/env bash
# Ferry HTTP inbound with the management plane on (auth by a store user, a high tier limit,
# logging: audit). Not in the default peer list; bench/mgmt/run.sh compares it with ferry-http. See ferry.sh.
FERRY_MGMT=1 exec "$(dirname "$0")/ferry.sh" http
