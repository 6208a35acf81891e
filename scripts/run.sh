#!/usr/bin/env bash
# Installs what is missing, builds askfirst optimised, and serves it on
# http://127.0.0.1:3000 (override with ASKFIRST_ADDR or --addr; other flags pass through).
source "$(dirname "$0")/lib.sh"
scripts/setup.sh
bin=$(scripts/build.sh --release | tail -n 1)
log "starting askfirst ($bin serve $*)"
exec "$bin" serve "$@"
