#!/usr/bin/env bash
# Fuzzes the agent API with schemathesis against the OpenAPI document the server serves:
# every operation, generated valid and invalid input, and every check (no 5xx, responses
# and status codes as documented, invalid data refused, auth enforced, ...).
#
#   scripts/fuzz.sh [path/to/askfirst]      (default: the debug build)
#
# ASKFIRST_FUZZ_EXAMPLES (examples per operation, default 60) and ASKFIRST_FUZZ_SECONDS
# (time budget in seconds, default 120) make a longer run. The server runs end2end/fuzz/policy.toml.
# Installs schemathesis (PyPI, pinned in end2end/fuzz/requirements.txt) into a venv.
source "$(dirname "$0")/lib.sh"

bin="${1:-$(target_dir)/debug/askfirst}"
[[ -x "$bin" ]] || die "no askfirst binary at $bin (build it first)"

venv="${ASKFIRST_VENV:-$HOME/.cache/askfirst-venv}"
req="$ROOT/end2end/fuzz/requirements.txt"
if [[ ! -x "$venv/bin/schemathesis" ]] || ! cmp -s "$req" "$venv/.requirements"; then
  log "installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements"
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export ASKFIRST_DB="$work/askfirst.db"
"$bin" policy import "$ROOT/end2end/fuzz/policy.toml" >/dev/null
key=$("$bin" agent create fuzzer --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ASKFIRST_LOG=warn "$bin" serve --addr "127.0.0.1:$port" --site-root "$work/site" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/server.log"; die "server did not start"; }

log "schemathesis against http://127.0.0.1:$port/api/v1/openapi.json"
status=0
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $key" \
  --checks all \
  --max-examples "${ASKFIRST_FUZZ_EXAMPLES:-60}" \
  --max-time "${ASKFIRST_FUZZ_SECONDS:-120}" \
  --seed 20261125 \
  --workers 2 \
  --request-timeout 70 \
  --generation-database none \
  --no-color \
  --report junit --report-dir "$work/report" || status=$?

if grep -q "panicked" "$work/server.log"; then
  cat "$work/server.log" >&2
  die "the server panicked during fuzzing"
fi
exit "$status"
