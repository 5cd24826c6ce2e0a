#!/usr/bin/env bash
# Fan-out: commit-to-client latency and delivered messages per second with
# 1, 1 000 and 10 000 WebSocket clients on one queue (snapshot mode), at a
# fixed commit rate, against a real queuecastd and PostgreSQL on this
# machine. The 1-client run is the baseline the others are compared with.
# Usage: bench/fanout_bench.sh [commits-per-second] [seconds]
# Writes the "Daemon fan-out" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
rate="${1:-100}"
seconds="${2:-10}"
build="${QUEUECAST_BUILD:-$root/build}"
# The load generator is not built by `make`: build it here.
cmake --build "$build" --target ws_loadgen >/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-fanout.XXXXXX")"
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  pgcluster_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
pgcluster_start "$tmp/cluster" "synchronous_commit = off" >/dev/null
pgcluster_psql -d postgres -c "CREATE DATABASE fanout"
pgcluster_psql -d fanout -c "CREATE EXTENSION queuecast" \
  -c "SELECT queuecast.create_queue('bench')" -c "SELECT queuecast.enqueue('bench', 't0')" >/dev/null
port=$(_pgcluster_free_port)
"$build/queuecastd" --database "dbname=fanout" --listen "127.0.0.1:$port" --log-level warn \
  --max-clients "$(( $(ulimit -n) - 1200 ))" 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

lines=()
for clients in ${QUEUECAST_FANOUT_CLIENTS:-1 1000 10000}; do
  line="$("$build/ws_loadgen" "$port" "dbname=fanout" bench "$clients" "$rate" "$seconds")"
  echo "$line"
  lines+=("$line")
done
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$daemon_pid/status")
echo "daemon peak RSS: ${rss_kb} kB"

# Memory with stalled clients: 200 clients subscribe and never read again
# while 100 readers follow the same commits. Conflation must keep the
# daemon's memory flat however long the stall lasts.
rss() { awk '/VmRSS/ { print $2 }' "/proc/$daemon_pid/status"; }
stall_lines=()
for stall_seconds in 5 20; do
  before=$(rss)
  line="$("$build/ws_loadgen" "$port" "dbname=fanout" bench 100 "$rate" "$stall_seconds" 200)"
  after=$(rss)
  echo "$line rss_before_kb=$before rss_after_kb=$after"
  stall_lines+=("$line rss_before_kb=$before rss_after_kb=$after")
done
python3 "$here/write_results.py" fanout "$rate" "$seconds" "$rss_kb" "${lines[@]}" -- "${stall_lines[@]}"
