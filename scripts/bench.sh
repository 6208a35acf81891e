#!/usr/bin/env bash
# Runs every benchmark and prints its figures (they never fail on a slow machine):
#
#   policy    policy evaluation alone, 1,000 rules
#   receipts  signing an approval receipt, and verifying one as a tool server would
#   load      allowed and gated paths vs a bare axum endpoint, wrk on its own core
#   waiting   10,000 long-polling agents, webhook latency, the inbox with 1,000,000 calls
#   bundle    what a browser downloads for the first inbox load, compressed
#   mcp       an allowed MCP tool call through `askfirst mcp proxy` vs the upstream alone
#             (official MCP Python SDK, 500 interleaved calls)
#
#   scripts/bench.sh [policy|receipts|load|waiting|bundle|mcp ...]   (default: all of them)
#
# Knobs: ASKFIRST_BENCH_SECS (load, per run; 8), ASKFIRST_BENCH_AGENTS (waiting; 10000),
# ASKFIRST_BENCH_HISTORY (waiting; 1000000), ASKFIRST_BENCH_PG (load: a PostgreSQL URL
# that may create databases; unset, a throwaway server is started in a temporary directory
# and stopped on exit; `none` skips the PostgreSQL rows), ASKFIRST_BENCH_CALLS (mcp; 500),
# ASKFIRST_BENCH_PAUSE_MS (mcp: an untimed pause after each call; 0, back to back),
# ASKFIRST_BENCH_SETTLE_SECS (load: a pause before the open-loop run, for the server to
# finish its background catch-up after the closed-loop bursts; 0),
# ASKFIRST_BIN (mcp: measure this askfirst binary instead of building one),
# ASKFIRST_BENCH_VENV (mcp: the venv for bench/mcp/requirements.txt;
# ~/.cache/askfirst-bench-venv). Installs wrk and PostgreSQL (Debian) when missing.
source "$(dirname "$0")/lib.sh"

which=("$@")
(( ${#which[@]} )) || which=(policy receipts load waiting bundle mcp)

# Only `mcp` with a given binary builds nothing.
if [[ "${which[*]}" != mcp || -z "${ASKFIRST_BIN:-}" ]]; then
  scripts/setup.sh
fi

if [[ " ${which[*]} " == *" load "* ]] && ! command -v wrk >/dev/null; then
  log "installing wrk (Debian) for the load benchmark"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk util-linux >/dev/null
fi
# The load benchmark's PostgreSQL rows: a throwaway server unless one is given.
if [[ " ${which[*]} " == *" load "* ]]; then
  if [[ "${ASKFIRST_BENCH_PG:-}" == none ]]; then
    unset ASKFIRST_BENCH_PG
  elif [[ -z "${ASKFIRST_BENCH_PG:-}" ]]; then
    scripts/pg.sh install
    BENCH_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/askfirst-bench-pg.XXXXXX")
    trap 'scripts/pg.sh stop "$BENCH_PG_DIR" || true; rm -rf "$BENCH_PG_DIR"' EXIT
    log "starting a throwaway PostgreSQL server in $BENCH_PG_DIR"
    ASKFIRST_BENCH_PG=$(scripts/pg.sh start "$BENCH_PG_DIR")
    export ASKFIRST_BENCH_PG
  fi
fi
# Thousands of connections need as many file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

for bench in "${which[@]}"; do
  case "$bench" in
    policy) cargo bench --no-default-features --features ssr --bench policy ;;
    receipts) cargo bench --no-default-features --features ssr --bench receipts ;;
    load) cargo bench --no-default-features --features ssr --bench load -- "${ASKFIRST_BENCH_SECS:-8}" ;;
    waiting)
      cargo bench --no-default-features --features ssr --bench waiting -- \
        "${ASKFIRST_BENCH_AGENTS:-10000}" "${ASKFIRST_BENCH_HISTORY:-1000000}" ;;
    bundle)
      # The bundles are always built optimised; the server is the release one unless
      # ASKFIRST_BIN names another (its build does not change what the browser downloads,
      # only how fast the HTML comes).
      bin="${ASKFIRST_BIN:-}"
      if [[ -z "$bin" ]]; then
        scripts/build.sh --release >/dev/null
        bin="$(target_dir)/release/askfirst"
      else
        scripts/build.sh >/dev/null
      fi
      for bundle in "approver:askfirst" "console:askfirst_console"; do
        IFS=: read -r label name <<<"$bundle"
        log "first load with the $label's bundle: what the browser downloads (brotli, as served)"
        total=0
        for f in "${name}_bg.wasm" "$name.js" askfirst.css; do
          raw=$(stat -c %s "$SITE_ROOT/pkg/$f")
          br=$(stat -c %s "$SITE_ROOT/pkg/$f.br")
          total=$((total + br))
          printf '  %-26s %9d bytes raw  %8d bytes brotli\n' "$f" "$raw" "$br"
        done
        target=""; [[ "$label" == approver ]] && target="; target <= 150 KB"
        printf '  %-26s %9s            %8d bytes brotli (%d KiB%s)\n' total "" "$total" $((total / 1024)) "$target"
      done
      # Per page, in the real browser: bytes transferred cold, and time to interactive on a
      # phone-like setting (4x CPU slowdown, 1.6 Mbit/s, 150 ms RTT).
      (cd end2end && node bench/firstload.mjs "$bin" "$SITE_ROOT")
      ;;
    mcp)
      python_venv "$BENCH_VENV" bench/mcp/requirements.txt
      bin="${ASKFIRST_BIN:-}"
      if [[ -z "$bin" ]]; then
        cargo build --release --bin askfirst --no-default-features --features ssr
        bin="$(target_dir)/release/askfirst"
      fi
      log "MCP proxy overhead: an allowed call through askfirst mcp proxy vs the upstream alone"
      "$BENCH_VENV/bin/python" bench/mcp/overhead.py --bin "$bin" \
        --calls "${ASKFIRST_BENCH_CALLS:-500}" --pause-ms "${ASKFIRST_BENCH_PAUSE_MS:-0}"
      ;;
    *) die "unknown benchmark '$bench' (policy, load, waiting, bundle, mcp)" ;;
  esac
done
