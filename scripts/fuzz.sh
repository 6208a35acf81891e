#!/usr/bin/env bash
# Fuzzes the agent API with schemathesis against the OpenAPI document the server serves:
# every operation, generated valid and invalid input, and every check (no 5xx, responses
# and status codes as documented, invalid data refused, valid data accepted, auth enforced,
# ...), then stateful sequences (propose -> get/execute/cancel) along the inferred links.
#
#   scripts/fuzz.sh [path/to/askfirst]      (default: the debug build)
#
# Knobs (environment):
#   ASKFIRST_FUZZ_EXAMPLES     test cases per operation and phase (default 60)
#   ASKFIRST_FUZZ_SECONDS      time budget in seconds (default 120). Schemathesis repeats
#                              fuzzing and stateful testing until the budget is spent, so
#                              the run takes this long; raise both for a longer run
#   ASKFIRST_FUZZ_SEED         random seed (default fixed, so runs are comparable)
#   ASKFIRST_FUZZ_REPORT_DIR   keep JUnit and HAR reports and the server log there
#   ASKFIRST_VENV              where schemathesis is installed (default ~/.cache/askfirst-venv)
#
# The server runs a fresh database with end2end/fuzz/policy.toml and one agent, whose key
# the fuzzer sends. Nothing leaves 127.0.0.1: see the proxy note below. Exits non-zero when
# schemathesis reports a failure or the server panicked.
source "$(dirname "$0")/lib.sh"

bin="${1:-$(target_dir)/debug/askfirst}"
[[ -x "$bin" ]] || die "no askfirst binary at $bin (build it first)"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

examples="${ASKFIRST_FUZZ_EXAMPLES:-60}"
seconds="${ASKFIRST_FUZZ_SECONDS:-120}"
seed="${ASKFIRST_FUZZ_SEED:-20261125}"

# --- schemathesis, pinned, in its own venv; reinstalled only when the pins change --------
venv="${ASKFIRST_VENV:-$HOME/.cache/askfirst-venv}"
req="$ROOT/end2end/fuzz/requirements.txt"
python_venv "$venv" "$req"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- a scratch directory, and a server that is stopped whatever happens -------------------
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n "${ASKFIRST_FUZZ_REPORT_DIR:-}" && -f "$work/server.log" ]]; then
    mkdir -p "$ASKFIRST_FUZZ_REPORT_DIR" && cp "$work/server.log" "$ASKFIRST_FUZZ_REPORT_DIR/"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- a fresh database: the fuzz policy and one agent ---------------------------------------
export ASKFIRST_DB="$work/askfirst.db"
# A fresh database with nobody in it yet: the import applies at once (provisioning).
"$bin" policy import "$ROOT/end2end/fuzz/policy.toml" >/dev/null
key=$("$bin" agent create fuzzer --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

# --- the server ---------------------------------------------------------------------------
# No network beyond 127.0.0.1: the fuzzer proposes calls with arbitrary `callback_url`s
# (public names and addresses), and the server delivers webhooks to them when the calls
# leave `pending`. Its HTTP client honours the usual proxy variables, so every delivery is
# sent to a local port nobody listens on and fails at once, without a DNS lookup.
port=$(free_port)
dead_proxy="http://127.0.0.1:$(free_port)"
mkdir -p "$work/site" # the API needs no built site; static routes would just 404
HTTP_PROXY="$dead_proxy" HTTPS_PROXY="$dead_proxy" ALL_PROXY="$dead_proxy" \
  http_proxy="$dead_proxy" https_proxy="$dead_proxy" all_proxy="$dead_proxy" \
  NO_PROXY="" no_proxy="" ASKFIRST_LOG="${ASKFIRST_LOG:-warn}" ASKFIRST_LOG_FORMAT=json \
  "$bin" serve --addr "127.0.0.1:$port" --site-root "$work/site" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 \
  || { cat "$work/server.log" >&2; die "the server did not start"; }

# --- schemathesis settings that have no command-line flag ---------------------------------
# - No crash cache: it would land in the working directory and replay old failures (against
#   a long-gone port) in later runs; each run starts from nothing.
# - `GET /api/v1/events` is an endless event stream: schemathesis reads it until the request
#   timeout, so give it a short one (a few seconds of events is plenty to check its shape).
#   Everything else has 15 s: long-polls end within ~3 s, as every gated call of the fuzz
#   policy expires after 2 s, so a timeout there is a real bug.
# - Only the agent key is masked in the output. By default schemathesis also masks every
#   field whose name contains "session" or "key", which would hide the body's `session`
#   and the `Idempotency-Key` from the curl commands that reproduce a failure.
cat >"$work/schemathesis.toml" <<'TOML'
request-timeout = 15

[cache]
enabled = false

[output.sanitization]
keys-to-sanitize = ["authorization"]
sensitive-markers = ["authorization"]

[[operations]]
include-path = "/api/v1/events"
request-timeout = 3
TOML

reports=()
if [[ -n "${ASKFIRST_FUZZ_REPORT_DIR:-}" ]]; then
  reports=(--report junit,har --report-dir "$ASKFIRST_FUZZ_REPORT_DIR")
fi

url="http://127.0.0.1:$port"
log "schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}') against $url/api/v1/openapi.json" \
  "($examples examples per operation, ${seconds}s, seed $seed)"
status=0
# Run from the scratch directory, so nothing schemathesis writes lands in the repository.
(
  cd "$work"
  export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 # talk to the server directly, whatever the environment
  "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$url/api/v1/openapi.json" \
    --url "$url" \
    --header "Authorization: Bearer $key" \
    --checks all \
    --max-examples "$examples" \
    --max-time "$seconds" \
    --seed "$seed" \
    --generation-database none \
    --workers 2 \
    --no-color \
    "${reports[@]}"
) || status=$?

# --- what the server said -----------------------------------------------------------------
if grep -q "panicked" "$work/server.log"; then
  cat "$work/server.log" >&2
  die "the server panicked during fuzzing"
fi
# A 5xx already fails a check; this also catches errors behind a 2xx (webhook bookkeeping,
# event replay, ...). The log is JSON lines, one per event.
if grep -q '"level":"ERROR"' "$work/server.log"; then
  log "the server logged errors:"
  grep '"level":"ERROR"' "$work/server.log" | head -20 >&2
  status=1
fi
exit "$status"
