#!/usr/bin/env bash
# Ferry, SOCKS inbound on 127.0.0.1:1090. See ferry.sh.
exec "$(dirname "$0")/ferry.sh" socks
