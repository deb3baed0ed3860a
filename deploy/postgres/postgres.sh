#!/usr/bin/env bash
# PostgreSQL, a private development cluster from Debian's packages (postgresql-15).
#   deploy/postgres/postgres.sh start        initdb (first time), start in the background, wait until
#                                            ready, create role jingkang and the service databases (idempotent)
#   deploy/postgres/postgres.sh stop         stop the cluster started by start
#   deploy/postgres/postgres.sh status       say whether it runs (exit 0 running, 3 stopped, 4 no cluster)
#   deploy/postgres/postgres.sh url SERVICE  print the connection URL of jingkang_SERVICE
# Settings: PG_DATA (data dir, default .cache/postgres/data), PG_MAX_CONNECTIONS (200; a running
# cluster takes a new value at its next start), PG_PORT (5433, so it never clashes
# with a system cluster on 5432), PG_BIN (binaries, default from pg_config or newest /usr/lib/postgresql/*/bin).
# Listens on 127.0.0.1 only. Host connections need a password (scram-sha-256): jingkang/jingkang.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
default_data() {
  # The cluster lives in the repository's cache, unless the postgres user cannot reach the
  # repository (a clone under /root, say): then beside it in /var/tmp, one per repository.
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$root" 2>/dev/null; then
    echo "/var/tmp/jingkang-postgres-$(printf %s "$root" | md5sum | cut -c1-8)/data"
  else
    echo "$root/.cache/postgres/data"
  fi
}
data="${PG_DATA:-$(default_data)}"
base=$(dirname "$data")
run="$base/run"            # unix socket dir: private to this cluster, never /var/run/postgresql
port="${PG_PORT:-5433}"
user=jingkang
password=jingkang
databases="intake assessment referral funding notification supervision test"
# The connection budget (README "Connection budget"): six services of 10 connections each
# (api 4, relay 2 + 2 held, worker 2) = 60; 96 with two APIs and two workers per service
# (make up SCALE=2); plus tools, an auditor and the tests' own stores. PG_MAX_CONNECTIONS overrides.
max_connections="${PG_MAX_CONNECTIONS:-200}"

die() { echo "postgres.sh: $*" >&2; exit 1; }

bindir() {
  local d="${PG_BIN:-}"
  if [ -z "$d" ] && command -v pg_config >/dev/null 2>&1; then d=$(pg_config --bindir 2>/dev/null || true); fi
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  fi
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] \
    || die "PostgreSQL server binaries not found; install postgresql-15 (Debian: apt-get install postgresql-15)"
  echo "$d"
}
bin=""

# PostgreSQL refuses to run as root: as root, run it as the postgres OS user from the Debian package.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user (created by the postgresql-15 package)"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

pg_ctl() { as_pg "$bin/pg_ctl" -D "$data" "$@"; }
# Superuser session over the private socket (trust for local connections only).
psql_admin() { as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$port" -U postgres -d postgres "$@"; }

prepare() {
  mkdir -p "$data" "$run"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$data" "$run"
    # The default cache dir belongs to this cluster alone; a custom PG_DATA parent is left as it is.
    [ -n "${PG_DATA:-}" ] || chown postgres: "$base"
  fi
  chmod 700 "$data"
  # Every ancestor must be searchable by the postgres user, or initdb/pg_ctl fail with an obscure error.
  if ! as_pg test -w "$data" -a -w "$run"; then
    local p="$data"
    while [ "$p" != / ]; do
      p=$(dirname "$p")
      as_pg test -x "$p" || die "the postgres user cannot enter $p; allow it (e.g. chmod o+x '$p') or set PG_DATA elsewhere"
    done
    die "the postgres user cannot write $data or $run"
  fi
  local sock="$run/.s.PGSQL.$port"
  [ "${#sock}" -lt 108 ] || die "socket path $sock is too long for a unix socket; set PG_DATA to a shorter path"
}

init() {
  if [ ! -f "$data/PG_VERSION" ]; then
    echo "postgres.sh: creating a cluster in $data" >&2
    as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "include = 'jingkang.conf'" >> "$data/postgresql.conf"
  fi
  # Rewritten on every start so PG_PORT and the socket dir follow the current settings.
  cat > "$data/jingkang.conf" <<EOF
# Written by deploy/postgres/postgres.sh; edits are lost on the next start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$run'
password_encryption = 'scram-sha-256'
max_connections = $max_connections
EOF
  [ "$(id -u)" != 0 ] || chown postgres: "$data/jingkang.conf"
}

running() { pg_ctl status >/dev/null 2>&1; }

provision() {
  # Role and databases are created if missing; the password is reset so the URL always works.
  psql_admin <<EOF
SELECT format('CREATE ROLE %I LOGIN CREATEDB', '$user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') \gexec
ALTER ROLE $user WITH LOGIN CREATEDB PASSWORD '$password';
EOF
  local db
  for db in $databases; do
    psql_admin <<EOF
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8''', 'jingkang_$db', '$user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'jingkang_$db') \gexec
EOF
  done
}

case "${1:-}" in
  start)
    bin=$(bindir); prepare; init
    if running; then
      echo "postgres.sh: already running on 127.0.0.1:$port ($data)" >&2
    else
      if ! pg_ctl -w -t 60 -l "$data/server.log" start >/dev/null; then
        echo "postgres.sh: server did not start; see $data/server.log" >&2
        tail -20 "$data/server.log" >&2 || true
        exit 1
      fi
    fi
    provision
    echo "postgres.sh: PostgreSQL ready on 127.0.0.1:$port; $0 url SERVICE prints a connection URL" >&2 ;;
  stop)
    bin=$(bindir)
    if [ -f "$data/PG_VERSION" ] && running; then pg_ctl -w -m fast stop >/dev/null; fi
    echo "postgres.sh: stopped" >&2 ;;
  status)
    bin=$(bindir)
    [ -f "$data/PG_VERSION" ] || { echo "postgres.sh: no cluster in $data" >&2; exit 4; }
    if running; then echo "postgres.sh: running on 127.0.0.1:$port ($data)" >&2
    else echo "postgres.sh: stopped ($data)" >&2; exit 3; fi ;;
  url)
    [ -n "${2:-}" ] || { echo "usage: $0 url SERVICE" >&2; exit 2; }
    echo "postgresql://$user:$password@127.0.0.1:$port/jingkang_$2" ;;
  *) echo "usage: $0 start|stop|status|url SERVICE" >&2; exit 2 ;;
esac
