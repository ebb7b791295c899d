#!/usr/bin/env bash
# Ferry HTTP inbound with the management plane on (auth by a store user, a high tier limit,
# logging: audit). Not in the default peer list; run by hand
# (bench/proxy/run.sh ferry-http ferry-http-mgmt). bench/mgmt/run.sh does not use it. See ferry.sh.
FERRY_MGMT=1 exec "$(dirname "$0")/ferry.sh" http
