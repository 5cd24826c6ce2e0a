# shellcheck shell=bash
# What bench/fanout_realistic.sh and bench/deflate_cost.sh share: a server
# started under `timeout`, stopped boundedly, and one throwaway cluster with
# a database that has queuecast. Source after tests/harness/pgcluster.sh,
# with $tmp set.
server_pid=   # the `timeout` wrapping the server
proc_pid=     # the server itself (timeout's child): what CPU and RSS are read from
watchdog_pid= # fanout_realistic.sh's RSS watchdog, when one runs

stop_server() {
  if [ -n "$watchdog_pid" ]; then kill "$watchdog_pid" 2>/dev/null || true; wait "$watchdog_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    # Bounded: SIGKILL after 10 s.
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$proc_pid" "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid='' proc_pid='' watchdog_pid=''
}

# bench_cluster DB: the cluster in $tmp, database DB with queuecast, as PGDATABASE.
bench_cluster() {
  trap 'stop_server; pgcluster_stop; rm -rf "$tmp"' EXIT
  pgcluster_start "$tmp/cluster" "synchronous_commit = off" >/dev/null
  export PGDATABASE="$1"
  pgcluster_psql -d postgres -c "CREATE DATABASE $1"
  pgcluster_psql -c "CREATE EXTENSION queuecast"
}
