# shellcheck shell=bash
# Throwaway PostgreSQL 15 clusters for tests, benchmarks and the demo.
#
# Source this file, then:
#   pgcluster_start DIR [extra postgresql.conf lines...]
#       initdb into DIR/data, start on a free loopback port, export
#       PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres
#   pgcluster_stop        stop the server and remove DIR
#   pgcluster_restart     restart the server (same port, same data)
#   pgcluster_psql ARGS   psql with ON_ERROR_STOP, quiet
#
# PostgreSQL refuses to run as root: when we are root the server runs as the
# `postgres` user (created by Debian's postgresql-common package), and DIR is
# handed to that user. Clients connect over TCP with trust authentication,
# which is acceptable only because the cluster is private, bound to
# 127.0.0.1, and deleted afterwards.

PG_BINDIR="${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}"

_pgcluster_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    # runuser keeps the environment minimal and needs no password.
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_pgcluster_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

pgcluster_start() {
  local dir="$1"
  shift
  PGCLUSTER_DIR="$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    # The postgres user must be able to reach DIR through its parents.
    chmod o+x "$(dirname "$dir")"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
  fi
  _pgcluster_as_owner "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
    --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
    echo "pgcluster: initdb failed, see $dir/initdb.log:" >&2
    tail -5 "$dir/initdb.log" >&2
    return 1
  }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "fsync = off"
    echo "max_connections = 200"
    echo "max_prepared_transactions = 10"
    echo "log_min_messages = warning"
    local line
    for line in "$@"; do echo "$line"; done
  } | _pgcluster_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  local attempt
  for attempt in 1 2 3 4 5; do
    PGPORT=$(_pgcluster_free_port)
    if _pgcluster_as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
      -o "-p $PGPORT" -w -t 60 start >/dev/null 2>&1; then
      export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres
      # For tests that restart or crash the server (tests/chaos).
      export PGCLUSTER_DATA="$dir/data" PGCLUSTER_LOG="$dir/server.log" PG_BINDIR
      return 0
    fi
  done
  echo "pgcluster: the server did not start, see $dir/server.log:" >&2
  tail -5 "$dir/server.log" >&2
  return 1
}

pgcluster_restart() {
  _pgcluster_as_owner "$PG_BINDIR/pg_ctl" -D "$PGCLUSTER_DIR/data" -l "$PGCLUSTER_DIR/server.log" \
    -o "-p $PGPORT" -w -t 60 -m fast restart >/dev/null
}

pgcluster_stop() {
  [ -n "${PGCLUSTER_DIR:-}" ] || return 0
  if [ -f "$PGCLUSTER_DIR/data/postmaster.pid" ]; then
    _pgcluster_as_owner "$PG_BINDIR/pg_ctl" -D "$PGCLUSTER_DIR/data" -m immediate -w stop \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$PGCLUSTER_DIR"
  PGCLUSTER_DIR=
}

pgcluster_psql() {
  psql -X -q -v ON_ERROR_STOP=1 "$@"
}
