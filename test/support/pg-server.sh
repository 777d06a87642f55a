#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests, CI and benchmarks: a temp directory, a free port on
# 127.0.0.1, trust auth and no durability (fsync, synchronous_commit and full_page_writes off), so it
# starts in about two seconds and never outlives its purpose.
#
#   test/support/pg-server.sh start [--env-file FILE] [--tls]
#                                         prints `export TOTES_TEST_PG_URL=…` and
#                                         `export TOTES_TEST_PG_DIR=…` (also to FILE)
#   test/support/pg-server.sh standby PRIMARY_DIR [--env-file FILE]
#                                         a hot standby of that server (base backup, streaming);
#                                         prints `export TOTES_TEST_STANDBY_URL=…` and `…_DIR=…`
#   test/support/pg-server.sh stop DIR    stops the server in DIR and deletes DIR
#
# --tls also turns on ssl with a throwaway CA (made with openssl, in DIR/tls, valid two days) that
# signed a server certificate for 127.0.0.1 and localhost, and prints
# `export TOTES_TEST_PG_CA_FILE=DIR/tls/ca.crt`: what a client needs for sslmode=verify-full. Plain
# connections stay allowed (TOTES_TEST_PG_URL has no sslmode), so seeding and checks need no TLS.
#
# Binaries come from `pg_config --bindir`. PostgreSQL refuses to run as root, so when this script runs
# as root the server runs as the `postgres` user (via runuser); otherwise as the calling user.
set -euo pipefail

die() { echo "pg-server: $*" >&2; exit 1; }

bindir() {
  command -v pg_config >/dev/null 2>&1 || die "pg_config not found: install PostgreSQL 15 server binaries (apt-get install postgresql-15) or set TOTES_TEST_PG_URL"
  local dir; dir="$(pg_config --bindir)"
  [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || die "no initdb/pg_ctl in $dir: install the PostgreSQL server package, not only the client"
  echo "$dir"
}

# Runs a command as the server's owner: postgres when we are root, ourselves otherwise.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' 2>/dev/null \
    || python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
}

# A CA and a server certificate for 127.0.0.1/localhost signed by it, in DIR/tls, owned by the
# server's owner (PostgreSQL refuses a key file that others can read). Prints the -o options.
make_tls() {
  local dir="$1" tls="$1/tls"
  command -v openssl >/dev/null 2>&1 || die "--tls needs openssl on PATH to make a throwaway CA"
  mkdir -p "$tls"
  {
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=Totes Lake throwaway test CA" -keyout "$tls/ca.key" -out "$tls/ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" &&
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$tls/server.ext" &&
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
      -days 2 -extfile "$tls/server.ext" -out "$tls/server.crt"
  } >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; die "openssl could not make the test certificates (log above)"; }
  chmod 600 "$tls/server.key" "$tls/ca.key"
  chmod 644 "$tls/ca.crt" "$tls/server.crt"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$tls"; fi
  echo "-c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key"
}

# Settings every server here runs with (a standby needs max_connections and
# max_prepared_transactions at least as high as its primary's).
SERVER_OPTIONS="-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c max_prepared_transactions=10 -c shared_buffers=256MB -c max_wal_size=4GB -c TimeZone=UTC"

# Starts the server in $dir/data on a free port (a few tries). $1: extra -o options.
start_on_free_port() {
  local dir="$1" extra="$2" bin log attempt
  bin="$(bindir)"
  log="$dir/server.log"
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$log" -w -t 30 start -o "-p $port -k $dir $SERVER_OPTIONS$extra" >/dev/null 2>&1; then
      echo "$port" >"$dir/port"
      return 0
    fi
    [ "$attempt" = 5 ] && { tail -20 "$log" >&2 || true; die "server in $dir did not start (log above)"; }
  done
}

new_dir() {
  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/totes-pg.XXXXXX")"
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to own the server"
    chown postgres "$dir"
  fi
  echo "$dir"
}

start() {
  local env_file="" tls=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --env-file) env_file="${2:?--env-file needs a file name}"; shift 2 ;;
      --tls) tls=1; shift ;;
      *) die "unknown option '$1' for start (expected --env-file FILE, --tls)" ;;
    esac
  done
  local bin dir port
  bin="$(bindir)"
  dir="$(new_dir)"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir (log above)"; }
  local ssl_options=""
  if [ -n "$tls" ]; then ssl_options=" $(make_tls "$dir")"; fi
  start_on_free_port "$dir" "$ssl_options"
  local url="postgres://postgres@127.0.0.1:$port/postgres"
  local out="export TOTES_TEST_PG_URL=$url
export TOTES_TEST_PG_DIR=$dir"
  if [ -n "$tls" ]; then out="$out
export TOTES_TEST_PG_CA_FILE=$dir/tls/ca.crt"; fi
  echo "$out"
  if [ -n "$env_file" ]; then echo "$out" >"$env_file"; fi
}

# A hot standby of the server in PRIMARY_DIR (streaming replication from a base backup), for
# tests whose source is a read replica. Prints `export TOTES_TEST_STANDBY_URL=…` and
# `export TOTES_TEST_STANDBY_DIR=…` (also to FILE); stop it with `stop DIR`.
standby() {
  local primary="${1:?usage: pg-server.sh standby PRIMARY_DIR [--env-file FILE]}" env_file=""
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --env-file) env_file="${2:?--env-file needs a file name}"; shift 2 ;;
      *) die "unknown option '$1' for standby (expected --env-file FILE)" ;;
    esac
  done
  [ -f "$primary/port" ] || die "$primary holds no running server started by this script (no $primary/port)"
  local bin dir port
  bin="$(bindir)"
  dir="$(new_dir)"
  as_owner "$bin/pg_basebackup" -h 127.0.0.1 -p "$(cat "$primary/port")" -U postgres -D "$dir/data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1 \
    || { cat "$dir/basebackup.log" >&2; die "pg_basebackup from $primary failed (log above)"; }
  start_on_free_port "$dir" " -c hot_standby=on -c hot_standby_feedback=on"
  local out="export TOTES_TEST_STANDBY_URL=postgres://postgres@127.0.0.1:$port/postgres
export TOTES_TEST_STANDBY_DIR=$dir"
  echo "$out"
  if [ -n "$env_file" ]; then echo "$out" >"$env_file"; fi
}

stop() {
  local dir="${1:?usage: pg-server.sh stop DIR}"
  [ -d "$dir/data" ] || die "$dir holds no server data directory (expected $dir/data)"
  local bin; bin="$(bindir)"
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  standby) shift; standby "$@" ;;
  stop) shift; stop "$@" ;;
  *) die "usage: pg-server.sh start [--env-file FILE] [--tls] | standby PRIMARY_DIR [--env-file FILE] | stop DIR" ;;
esac
