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
