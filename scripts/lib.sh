# Shared helpers for the scripts in this folder. Source it; do not run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Where cargo puts its output (honours CARGO_TARGET_DIR and cargo config).
target_dir() {
  cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# The site directory the server serves (cargo-leptos's `site-root`).
SITE_ROOT="$ROOT/target/site"

# A Python virtualenv at $1 holding exactly the pins in requirements file $2; (re)installed
# only when it is missing or the pins changed.
python_venv() {
  local venv="$1" req="$2"
  if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$req" "$venv/.requirements"; then
    log "installing ${req#"$ROOT"/} into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.requirements"
  fi
}

# Where the integration tests find the pinned Prometheus client (tests/prometheus/).
TEST_VENV="${ASKFIRST_TEST_VENV:-$HOME/.cache/askfirst-test-venv}"

# Where the integration tests find the pinned SMTP sink (tests/smtp/).
SMTP_VENV="${ASKFIRST_SMTP_VENV:-$HOME/.cache/askfirst-smtp-venv}"

# Where the integration tests find the pinned PyJWT and rfc8785 (tests/receipts/).
RECEIPT_VENV="${ASKFIRST_RECEIPT_VENV:-$HOME/.cache/askfirst-receipt-venv}"

# Where the MCP proxy benchmark finds the pinned MCP Python SDK (bench/mcp/).
BENCH_VENV="${ASKFIRST_BENCH_VENV:-$HOME/.cache/askfirst-bench-venv}"
