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
#   pgcluster_start_standby DIR
#       a streaming hot standby of the running cluster in DIR/data (a
#       physical replication slot, pg_basebackup -R, its own free port);
#       exports STANDBY_PORT and STANDBY_NAME (its application_name)
#   pgcluster_sync_standby NAME   synchronous_standby_names = NAME on the
#       primary (ALTER SYSTEM + reload; '' makes commits local again)
#   pgcluster_stop_standby        stop the standby and remove its DIR
#
# QUEUECAST_PRELOAD=1 starts every cluster with
# shared_preload_libraries = 'queuecast' (the extension's preloaded mode).
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
    if [ "${QUEUECAST_PRELOAD:-0}" = 1 ]; then
      echo "shared_preload_libraries = 'queuecast'"
    fi
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
  pgcluster_stop_standby
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

# The standby is a copy of the primary taken while it runs. Replication
# connections need no setup: initdb -A trust already writes
# "host replication all 127.0.0.1/32 trust", and PostgreSQL 15's defaults are
# wal_level = replica, max_wal_senders = 10, hot_standby = on. The slot keeps
# the primary's WAL until the standby has it, so a slow standby never needs a
# WAL segment the primary has recycled.
pgcluster_start_standby() {
  local dir="$1"
  [ -n "${PGCLUSTER_DIR:-}" ] || {
    echo "pgcluster: start the primary first" >&2
    return 1
  }
  STANDBY_DIR="$dir"
  STANDBY_NAME=queuecast_standby
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chmod o+x "$(dirname "$dir")"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
  fi
  pgcluster_psql -d postgres -c \
    "SELECT pg_create_physical_replication_slot('$STANDBY_NAME')" >/dev/null || return 1
  _pgcluster_as_owner "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" -U postgres \
    -D "$dir/data" -R -S "$STANDBY_NAME" -X stream --no-sync >"$dir/basebackup.log" 2>&1 || {
    echo "pgcluster: pg_basebackup failed, see $dir/basebackup.log:" >&2
    tail -5 "$dir/basebackup.log" >&2
    return 1
  }
  # -R wrote a primary_conninfo without application_name; the later line
  # wins, and the name is what synchronous_standby_names refers to.
  {
    echo "primary_conninfo = 'host=127.0.0.1 port=$PGPORT user=postgres application_name=$STANDBY_NAME'"
    echo "unix_socket_directories = '$dir'"
    echo "hot_standby = on"
  } | _pgcluster_as_owner tee -a "$dir/data/postgresql.auto.conf" >/dev/null
  local _
  for _ in 1 2 3 4 5; do
    STANDBY_PORT=$(_pgcluster_free_port)
    if _pgcluster_as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
      -o "-p $STANDBY_PORT" -w -t 60 start >/dev/null 2>&1; then
      export STANDBY_PORT STANDBY_NAME
      _pgcluster_wait_streaming && return 0
      echo "pgcluster: the standby does not stream, see $dir/server.log:" >&2
      tail -5 "$dir/server.log" >&2
      return 1
    fi
  done
  echo "pgcluster: the standby did not start, see $dir/server.log:" >&2
  tail -5 "$dir/server.log" >&2
  return 1
}

# Waits (at most 30 s) until the primary sees the standby streaming, in the
# sync state given ('async' by default, 'sync' once it is synchronous).
_pgcluster_wait_streaming() {
  local want="${1:-async}" _
  for _ in $(seq 300); do
    [ "$(psql -X -qAt -d postgres -c "SELECT sync_state FROM pg_stat_replication
          WHERE application_name = '$STANDBY_NAME' AND state = 'streaming'")" = "$want" ] &&
      return 0
    sleep 0.1
  done
  return 1
}

pgcluster_sync_standby() {
  local names="$1"
  pgcluster_psql -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = '$names'" \
    -c "SELECT pg_reload_conf()" >/dev/null || return 1
  if [ -n "$names" ]; then
    _pgcluster_wait_streaming sync || {
      echo "pgcluster: the standby did not become synchronous" >&2
      return 1
    }
  fi
}

pgcluster_stop_standby() {
  [ -n "${STANDBY_DIR:-}" ] || return 0
  # Commits waiting for a standby that is gone would wait forever.
  if [ -n "${PGCLUSTER_DIR:-}" ] && [ -f "$PGCLUSTER_DIR/data/postmaster.pid" ]; then
    pgcluster_sync_standby "" 2>/dev/null || true
  fi
  if [ -f "$STANDBY_DIR/data/postmaster.pid" ]; then
    _pgcluster_as_owner "$PG_BINDIR/pg_ctl" -D "$STANDBY_DIR/data" -m immediate -w stop \
      >/dev/null 2>&1 || true
  fi
  # The slot would keep the primary's WAL forever. Its walsender may take a
  # moment to notice that the standby is gone; until then it is active and
  # cannot be dropped.
  if [ -n "${PGCLUSTER_DIR:-}" ] && [ -f "$PGCLUSTER_DIR/data/postmaster.pid" ]; then
    local _
    for _ in $(seq 50); do
      psql -X -q -d postgres -c "SELECT pg_drop_replication_slot('$STANDBY_NAME')" \
        >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  rm -rf "$STANDBY_DIR"
  STANDBY_DIR=
  unset STANDBY_PORT
}
