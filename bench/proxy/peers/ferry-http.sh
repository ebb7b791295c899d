#!/usr/bin/env bash
# Ferry, HTTP inbound (absolute-form and CONNECT) on 127.0.0.1:8090. See ferry.sh.
exec "$(dirname "$0")/ferry.sh" http
