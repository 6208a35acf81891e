#!/usr/bin/env bash
# The README's "Running several instances" example, on one machine: PostgreSQL, two
# askfirst instances sharing it, and nginx in front of both on http://127.0.0.1:3000.
#
#   scripts/cluster.sh            install what is missing, build, start all four; Ctrl-C stops
#
# State lives in data/cluster/ (the database's files, the shared secrets key, the nginx
# configuration and logs), so a second start finds the same accounts and calls. The
# instances listen on 127.0.0.1:3001 and :3002; kill one and the other keeps serving.
# Knobs: ASKFIRST_CLUSTER_PORT (nginx; 3000), ASKFIRST_CLUSTER_DIR (data/cluster),
# ASKFIRST_BIN (a built askfirst binary instead of building the release one).
source "$(dirname "$0")/lib.sh"
scripts/setup.sh
scripts/pg.sh install
if ! command -v nginx >/dev/null; then
  log "installing Debian's nginx for the reverse proxy"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light >/dev/null \
    || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light >/dev/null; }
fi

dir=$(mkdir -p "${ASKFIRST_CLUSTER_DIR:-data/cluster}" && cd "${ASKFIRST_CLUSTER_DIR:-data/cluster}" && pwd)
port=${ASKFIRST_CLUSTER_PORT:-3000}
bin=${ASKFIRST_BIN:-$(scripts/build.sh --release | tail -n 1)}

admin=$(scripts/pg.sh start "$dir/pg")
psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'askfirst'" | grep -q 1 \
  || psql "$admin" -qc "CREATE DATABASE askfirst"
db="${admin%/*}/askfirst"

# One first-run token for both: the setup link works through the proxy, whichever instance
# answers it.
[[ -s "$dir/setup-token" ]] || python3 -c 'import secrets; print(secrets.token_hex(32))' >"$dir/setup-token"

pids=()
stop() {
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f "$dir/nginx.pid" ]] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  scripts/pg.sh stop "$dir/pg"
}
trap stop EXIT INT TERM

# Every instance: the same database, the same secrets key, the proxy's public URL, and the
# proxy trusted for X-Forwarded-For (the sign-in limit is per client, not per proxy).
for n in 1 2; do
  "$bin" serve --addr "127.0.0.1:300$n" --db "$db" --site-root "$SITE_ROOT" \
    --secrets-key-file "$dir/secrets-key" --public-url "http://127.0.0.1:$port" \
    --trusted-proxies 127.0.0.1 --setup-token "$(cat "$dir/setup-token")" \
    >>"$dir/instance-$n.log" 2>&1 &
  pids+=($!)
  # The first start creates the secrets key; the second must find it.
  [[ $n == 1 ]] && until [[ -s "$dir/secrets-key" ]] || ! kill -0 "${pids[0]}" 2>/dev/null; do sleep 0.1; done
done

cat >"$dir/nginx.conf" <<EOF
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events {}
http {
  access_log $dir/nginx-access.log;
  client_body_temp_path $dir/nginx-body;
  proxy_temp_path $dir/nginx-proxy;
  upstream askfirst {
    server 127.0.0.1:3001 max_fails=1 fail_timeout=5s;
    server 127.0.0.1:3002 max_fails=1 fail_timeout=5s;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$port;
    # Requests stay in memory (no temporary files for the unprivileged workers to write).
    client_max_body_size 2m;
    client_body_buffer_size 2m;
    location / {
      proxy_pass http://askfirst;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host:\$server_port;
      proxy_set_header X-Forwarded-For \$remote_addr;
      # Long-polls wait up to 60 s and event streams stay open: no buffering, long reads.
      proxy_buffering off;
      proxy_read_timeout 90s;
      # A request that could not reach an instance goes to the other; nginx never resends
      # a POST that reached one (the agent retries it with its Idempotency-Key).
      proxy_next_upstream error timeout http_502 http_503;
    }
  }
}
EOF
nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/nginx-error.log"
log "askfirst on http://127.0.0.1:$port (instances on :3001 and :3002, PostgreSQL at $db)"
wait -n "${pids[@]}" || true
log "an instance stopped; the other still serves (Ctrl-C to stop everything)"
wait
