#!/usr/bin/env bash
# Installs what building askfirst needs; with --test, also what testing needs.
# Idempotent: when everything is present it only checks, in a few seconds.
#
#   wasm32 target   rustup, for the toolchain pinned in rust-toolchain.toml
#   wasm-bindgen    cargo install, at exactly the version in Cargo.lock
#   node packages   npm ci in end2end/ (Playwright, axe-core, and binaryen's wasm-opt)
#   chromium        Debian's package, for the browser tests (--test only)
#   postgresql      Debian's package, the server the integration tests also run against
#                   (--test only; scripts/pg.sh starts a throwaway one)
#   Python venv     the pinned Prometheus client the integration tests parse /metrics
#                   with, in ASKFIRST_TEST_VENV (default ~/.cache/askfirst-test-venv; --test only)
#   Python venv     the pinned aiosmtpd the notification tests send mail to, in
#                   ASKFIRST_SMTP_VENV (default ~/.cache/askfirst-smtp-venv; --test only)
#   Python venv     the pinned PyJWT and rfc8785 that check approval receipts with no
#                   askfirst code, in ASKFIRST_RECEIPT_VENV (default
#                   ~/.cache/askfirst-receipt-venv; --test only)
#
# Nothing is downloaded from GitHub: Playwright drives the system Chromium, and wasm-opt
# comes from the npm package `binaryen`.
source "$(dirname "$0")/lib.sh"

for_test=0
[[ "${1:-}" == "--test" ]] && for_test=1

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs) first"
command -v npm >/dev/null || die "npm not found: install Node.js 20 or newer first"

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
installed_targets=$(rustup target list --installed --toolchain "$toolchain" 2>/dev/null || true)
installed_components=$(rustup component list --installed --toolchain "$toolchain" 2>/dev/null || true)
if ! grep -qx wasm32-unknown-unknown <<<"$installed_targets" \
  || ! grep -q '^clippy' <<<"$installed_components" \
  || ! grep -q '^rustfmt' <<<"$installed_components"; then
  log "installing Rust $toolchain with the wasm32 target, clippy and rustfmt"
  rustup toolchain install "$toolchain" --profile minimal \
    --component rustfmt --component clippy --target wasm32-unknown-unknown \
    || die "rustup could not add the wasm32-unknown-unknown target; see README \"Building without rustup's wasm32 target\""
fi

# wasm-bindgen's CLI must equal the library's version in Cargo.lock, to the patch.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [[ "$have" != "$want" ]]; then
  log "installing wasm-bindgen-cli $want (found: ${have:-none})"
  # Not --locked: one of its locked dependencies is no longer on the registry.
  cargo install wasm-bindgen-cli --version "$want"
fi

if [[ ! -f end2end/node_modules/.package-lock.json ]] \
  || [[ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]]; then
  log "installing node packages (npm ci in end2end/)"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
fi

if (( for_test )) && ! command -v chromium >/dev/null; then
  log "installing Debian's chromium for the browser tests"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if (( for_test )); then
  scripts/pg.sh install
fi

# The integration tests parse /metrics with the official Prometheus client, send mail to
# aiosmtpd and check receipts with PyJWT and rfc8785 (all pinned).
if (( for_test )); then
  python_venv "$TEST_VENV" tests/prometheus/requirements.txt
  python_venv "$SMTP_VENV" tests/smtp/requirements.txt
  python_venv "$RECEIPT_VENV" tests/receipts/requirements.txt
fi
log "setup complete"
