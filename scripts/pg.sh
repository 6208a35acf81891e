#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's `postgresql` package.
#
#   scripts/pg.sh install      install the package unless its initdb is already there
#   scripts/pg.sh start DIR    start a server whose files live in DIR (created on first use,
#                              reused after), listening on a free port of 127.0.0.1 only;
#                              prints `postgres://askfirst@127.0.0.1:PORT/postgres` and
#                              writes it to DIR/url. No password: the server trusts every
#                              local connection, so it is for tests only.
#   scripts/pg.sh stop DIR     stop it (nothing to do when it is not running)
#
# The server's log is DIR/log. initdb and postgres refuse to run as root: as root, they
# run as the `postgres` user that the package creates, and DIR is given to that user.
set -euo pipefail

die() { printf 'pg.sh: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The newest installed server's binaries (/usr/lib/postgresql/<version>/bin), if any.
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then
    printf '%s\n' "$dir"
  fi
}

# Runs a command as the database's owner: `postgres` when we are root, else ourselves.
# From / so that a working directory the owner may not enter does not matter.
as_owner() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

cmd_install() {
  if [[ -n "$(pg_bin)" ]]; then
    return 0
  fi
  local sudo=()
  if [[ $EUID -ne 0 ]]; then
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y -q postgresql >/dev/null; then
    # A fresh machine may not have the package lists yet.
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" apt-get install -y -q postgresql >/dev/null
  fi
  [[ -n "$(pg_bin)" ]] || die "postgresql is installed but no initdb in /usr/lib/postgresql/*/bin"
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Whether something already listens on 127.0.0.1:$1.
port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# DIR as an absolute path, created if needed.
resolve_dir() {
  [[ -n "${1:-}" ]] || usage
  mkdir -p "$1"
  (cd "$1" && pwd)
}

running() {
  as_owner "$BIN/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

cmd_start() {
  local dir port url
  dir=$(resolve_dir "${1:-}")
  BIN=$(pg_bin)
  [[ -n "$BIN" ]] || die "PostgreSQL is not installed: run scripts/pg.sh install"

  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$dir"
    as_owner test -w "$dir" \
      || die "the postgres user cannot write $dir (is a parent directory closed to it?)"
  fi

  if running "$dir"; then
    # Already up (a second start): say where it is.
    [[ -f "$dir/url" ]] || die "a server runs in $dir/data but $dir/url is missing"
    cat "$dir/url"
    return 0
  fi

  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    rm -rf "$dir/data"
    as_owner "$BIN/initdb" -D "$dir/data" --auth=trust -U askfirst --encoding=UTF8 \
      --locale=C --no-sync >>"$dir/log" 2>&1 \
      || die "initdb failed; see $dir/log"
    # Loopback only, the socket in DIR (not /var/run/postgresql), room for the tests' pools.
    local socket_dir=${dir//\'/\'\'}
    as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# scripts/pg.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
max_connections = 300
EOF
  fi

  # The port of the last run when it is still free (a stable URL), else a new one; retried
  # in case another process takes the port between the choice and the start.
  local attempt
  for attempt in 1 2 3 4 5; do
    port=$(cat "$dir/port" 2>/dev/null || true)
    if [[ ! "$port" =~ ^[0-9]+$ ]] || port_taken "$port"; then
      port=$(free_port)
    fi
    printf '%s\n' "$port" >"$dir/port"
    # The log is written by the server's user (it is created as that user by pg_ctl).
    if [[ $EUID -eq 0 && -e "$dir/log" ]]; then
      chown postgres:postgres "$dir/log"
    fi
    if as_owner "$BIN/pg_ctl" start -D "$dir/data" -l "$dir/log" -o "-p $port" -w -t 60 \
      >/dev/null 2>&1; then
      break
    fi
    if running "$dir"; then
      break
    fi
    rm -f "$dir/port"
    [[ $attempt -lt 5 ]] || die "the server did not start; see $dir/log"
  done

  local tries=0
  until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U askfirst -d postgres; do
    tries=$((tries + 1))
    [[ $tries -lt 300 ]] || die "the server did not become ready; see $dir/log"
    sleep 0.1
  done

  url="postgres://askfirst@127.0.0.1:$port/postgres"
  printf '%s\n' "$url" >"$dir/url"
  printf '%s\n' "$url"
}

cmd_stop() {
  local dir
  [[ -n "${1:-}" ]] || usage
  [[ -d "$1" ]] || return 0
  dir=$(cd "$1" && pwd)
  BIN=$(pg_bin)
  [[ -n "$BIN" ]] || return 0
  if [[ -f "$dir/data/PG_VERSION" ]] && running "$dir"; then
    as_owner "$BIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null 2>&1 \
      || die "the server did not stop; see $dir/log"
  fi
  rm -f "$dir/url"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  *) usage ;;
esac
