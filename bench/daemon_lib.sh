# shellcheck shell=bash
# What bench/stats_history.sh and bench/browser_dashboard.sh share: one
# queuecastd against a database of the current cluster, with the static
# token bench-token, on a free loopback port. Source after
# tests/harness/pgcluster.sh, with $build and $tmp set.
daemon_pid=
daemon_port=

# bench_start_daemon DB: starts it and waits (at most 10 s) until it is ready.
bench_start_daemon() {
  daemon_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$build/queuecastd" --database "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$1" \
    --listen "127.0.0.1:$daemon_port" --token bench-token --log-level warn 2>"$tmp/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do
    curl -sf -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$daemon_port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "queuecastd did not become ready:" >&2
  tail -5 "$tmp/daemon.log" >&2
  return 1
}

bench_stop_daemon() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  daemon_pid=
}
