#!/usr/bin/env bash
# The Python client (clients/python): ruff, mypy --strict and its pytest suite against a
# real askfirst server that the tests start (on 127.0.0.1, fresh database in a temporary
# directory). Builds nothing: give it a built binary.
#
#   scripts/test-python.sh [BINARY]    # default: $ASKFIRST_BIN, else target/debug/askfirst
#
# The pinned test environment (clients/python/requirements-test.txt) lives in a venv at
# ASKFIRST_PY_CLIENT_VENV, reinstalled only when the pins change; the client is installed
# into it (not editable) again whenever its sources change.
source "$(dirname "$0")/lib.sh"

PY_CLIENT_VENV="${ASKFIRST_PY_CLIENT_VENV:-$HOME/.cache/askfirst-python-client-venv}"
client="$ROOT/clients/python"

bin="${1:-${ASKFIRST_BIN:-$ROOT/target/debug/askfirst}}"
[[ -f "$bin" && -x "$bin" ]] || die "no askfirst binary at $bin: build it (scripts/build.sh) or pass its path"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

python_venv "$PY_CLIENT_VENV" "$client/requirements-test.txt"

# What the installed client was built from: its metadata and sources.
stamp=$(cd "$client" && find pyproject.toml README.md src -type f ! -path '*/__pycache__/*' \
  ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$PY_CLIENT_VENV/.askfirst-client" 2>/dev/null || true)" != "$stamp" ]]; then
  log "installing the askfirst Python client (clients/python) into $PY_CLIENT_VENV"
  # Built from a copy, so the build leaves nothing in the work tree.
  build_dir=$(mktemp -d)
  trap 'rm -rf "$build_dir"' EXIT
  cp -r "$client/pyproject.toml" "$client/README.md" "$client/src" "$build_dir/"
  "$PY_CLIENT_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation --force-reinstall "$build_dir"
  echo "$stamp" > "$PY_CLIENT_VENV/.askfirst-client"
fi

cd "$client"
export RUFF_CACHE_DIR="$PY_CLIENT_VENV/.ruff_cache"
log "Python client: ruff check"
"$PY_CLIENT_VENV/bin/ruff" check .
log "Python client: ruff format --check"
"$PY_CLIENT_VENV/bin/ruff" format --check .
log "Python client: mypy --strict"
"$PY_CLIENT_VENV/bin/mypy" --strict --cache-dir "$PY_CLIENT_VENV/.mypy_cache" src/askfirst
log "Python client: pytest against $bin"
ASKFIRST_BIN="$bin" PYTHONDONTWRITEBYTECODE=1 "$PY_CLIENT_VENV/bin/python" -m pytest -q \
  -p no:cacheprovider
