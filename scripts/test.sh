#!/usr/bin/env bash
# The whole test suite: formatting, clippy for both builds, unit and integration tests,
# and the browser tests in headless Chromium against the real built server.
source "$(dirname "$0")/lib.sh"
scripts/setup.sh --test

log "cargo fmt --check"
cargo fmt --all -- --check

log "clippy (ssr, with tests)"
cargo clippy --no-default-features --features ssr --all-targets -- -D warnings
log "clippy (sdk)"
cargo clippy -p askfirst-sdk --all-features --all-targets -- -D warnings
log "clippy (hydrate, wasm32: the approver's bundle and the console's)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate,console -- -D warnings
cargo clippy -p askfirst-browser -p askfirst-console --lib --target wasm32-unknown-unknown -- -D warnings

log "unit tests (ssr)"
cargo test --no-default-features --features ssr --lib --bins
# The integration tests each start a full server (on a runtime of their own). One at a
# time: some share process-wide limits (password hashing's slots) that a test filling them
# on purpose would take from the others; pages rendering at once on several servers are
# covered by render_stress.rs.
log "integration tests on SQLite (ssr)"
cargo test --no-default-features --features ssr --test http -- --test-threads=1
# The same suite on PostgreSQL (a throwaway server, data in a temporary directory), with
# the tests of several instances on one database and of the schemas' equivalence.
pg_dir=$(mktemp -d)
cleanup() {
  scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
  rm -rf "$pg_dir" "${e2e_dir:-}"
}
trap cleanup EXIT
log "integration tests on PostgreSQL (ssr)"
ASKFIRST_TEST_PG=$(scripts/pg.sh start "$pg_dir") \
  cargo test --no-default-features --features ssr --test http -- --test-threads=1
scripts/pg.sh stop "$pg_dir"
log "SDK tests"
cargo test -p askfirst-sdk --all-features

bin=$(scripts/build.sh | tail -n 1)

log "API fuzzing (schemathesis against the served OpenAPI document)"
scripts/fuzz.sh "$bin"

log "Python client (ruff, mypy --strict, pytest against the built server)"
scripts/test-python.sh "$bin"

log "browser tests (Playwright, headless Chromium)"
e2e_dir=$(mktemp -d)
export ASKFIRST_BIN="$bin" ASKFIRST_E2E_DIR="$e2e_dir"
(cd end2end && npx playwright test)
