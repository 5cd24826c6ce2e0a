#!/usr/bin/env bash
# Memory per idle WebSocket connection: the daemon's resident memory (VmRSS)
# before and after N clients of bench/ws_idle_clients connect to /ws and
# subscribe to one queue in delta mode, divided by N. A fresh daemon per N,
# so one run's freed memory is not the next one's baseline.
# Usage: bench/idle_memory.sh [LABEL=QUEUECASTD ...]
#   Other builds of the daemon (say, earlier commits') measured in the same
#   run before this build's ($QUEUECAST_BUILD/queuecastd, labelled "this").
# QUEUECAST_IDLE_NOTE: a line for the section saying what the labels are.
# QUEUECAST_IDLE_COUNTS: the N to measure (default "10000 19000": 19 000 is
#   about as many as the hard open-file limit of 20 000 lets one daemon hold).
# Writes the "idle-memory" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
build="${QUEUECAST_BUILD:-$root/build}"
others=("$@")
counts="${QUEUECAST_IDLE_COUNTS:-10000 19000}"
# The client is not built by `make`: build it here.
cmake --build "$build" --target ws_idle_clients >/dev/null
ulimit -n "$(ulimit -Hn)"
hard=$(ulimit -Hn)
# Each connection is one descriptor in the daemon and one in a client: the
# daemon keeps room for its HTTP connections and its own files (main.cpp's
# spare_descriptors), and a client process holds at most per_process.
# Each client process has up to 200 upgrades in flight (ws_idle_clients.cpp),
# all of them counted against --max-http-connections until upgraded: two
# processes, 400 at most.
http_connections=512
max_clients=$((hard - http_connections - 64))
per_process=9500

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-idle.XXXXXX")"
daemon_pid=
client_pids=()
cleanup() {
  for pid in "${client_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  pgcluster_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
pgcluster_start "$tmp/cluster" >/dev/null
pgcluster_psql -d postgres -c "CREATE DATABASE idle"
pgcluster_psql -d idle -c "CREATE EXTENSION queuecast" \
  -c "SELECT queuecast.create_queue('idle')" -c "SELECT queuecast.enqueue('idle', 'one job')" >/dev/null

rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$daemon_pid/status"; }

# measure LABEL BINARY N: sets row to "LABEL N SUBSCRIBED CLOSED RSS_BEFORE_KB
# RSS_AFTER_KB" (not in a subshell: the cleanup trap must see the pids).
measure() {
  local label="$1" binary="$2" n="$3"
  local port
  port=$(_pgcluster_free_port)
  "$binary" --database "dbname=idle" --listen "127.0.0.1:$port" --log-level warn \
    --max-clients "$max_clients" --max-http-connections "$http_connections" \
    --max-connections-per-ip "$max_clients" 2>"$tmp/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  # One client subscribes and leaves first: the topic's state and whatever
  # the first subscriber costs once are in the baseline, not in the figure.
  timeout 60 "$build/ws_idle_clients" "$port" queue:idle 1 0 >/dev/null
  sleep 1
  local before after
  before=$(rss_kb)
  client_pids=()
  local left=$n i=0
  while [ "$left" -gt 0 ]; do
    local share=$((left < per_process ? left : per_process))
    # Holds at most 300 s; timeout ends a client that would not.
    timeout 400 "$build/ws_idle_clients" "$port" queue:idle "$share" 300 >"$tmp/clients.$i" 2>"$tmp/errors.$i" &
    client_pids+=($!)
    left=$((left - share))
    i=$((i + 1))
  done
  # Every client process says "ready" within its own 120 s deadline.
  for _ in $(seq 1500); do
    [ "$(cat "$tmp"/clients.* | grep -c '^ready')" -eq "$i" ] && break
    sleep 0.1
  done
  sleep 2  # let the daemon finish what the last subscriptions started
  after=$(rss_kb)
  local subscribed closed
  subscribed=$(sed -n 's/^ready subscribed=\([0-9]*\).*/\1/p' "$tmp"/clients.* | awk '{ s += $1 } END { print s + 0 }')
  for pid in "${client_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local failed=0
  for pid in "${client_pids[@]}"; do wait "$pid" || failed=1; done
  client_pids=()
  closed=$(sed -n 's/^closed=\([0-9]*\).*/\1/p' "$tmp"/clients.* | awk '{ s += $1 } END { print s + 0 }')
  # Why clients failed, for the section: the first failure of each process.
  sed -n "s/^ws_idle_clients: first failure: /$label N=$n: /p" "$tmp"/errors.* >>"$tmp/failures"
  cat "$tmp"/errors.* >&2
  rm -f "$tmp"/clients.* "$tmp"/errors.*
  kill "$daemon_pid"
  wait "$daemon_pid" || true
  daemon_pid=
  if [ "$failed" != 0 ]; then
    echo "idle_memory: some clients of $label N=$n did not subscribe or close cleanly; daemon log:" >&2
    tail -5 "$tmp/daemon.log" >&2
  fi
  row="$label $n $subscribed $closed $before $after"
}

rows=()
for n in $counts; do
  for other in "${others[@]}"; do
    measure "${other%%=*}" "${other#*=}" "$n"
    echo "$row"
    rows+=("$row")
  done
  measure this "$build/queuecastd" "$n"
  echo "$row"
  rows+=("$row")
done

invocation="bench/idle_memory.sh"
for other in "${others[@]}"; do invocation+=" ${other%%=*}=…"; done
{
  echo "## Memory per idle connection (issue 11)"
  echo
  echo "Measured $(date -u +%F) on $(hostname) ($(nproc) cores) by \`$invocation\`:"
  echo "a fresh queuecastd per row; N clients of \`bench/ws_idle_clients\` connect to \`/ws\`, each"
  echo "subscribes to one queue in delta mode (\`subscribed\` and the first \`snapshot\` received), and"
  echo "stay idle. Per connection: (daemon VmRSS after - before) / subscribed; one client subscribed and left"
  echo "before the \"before\" reading, so one-time costs are not counted."
  [ "$#" = 0 ] || echo "Other daemons of the same run: $(printf '`%s` ' "${others[@]%%=*}")(labels given to the script); \`this\` is this build."
  [ -z "${QUEUECAST_IDLE_NOTE:-}" ] || echo "$QUEUECAST_IDLE_NOTE"
  echo
  echo "| daemon | N | subscribed | closed cleanly | RSS before | RSS after | per connection |"
  echo "|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    read -r label n subscribed closed before after <<<"$row"
    awk -v l="$label" -v n="$n" -v s="$subscribed" -v c="$closed" -v b="$before" -v a="$after" 'BEGIN {
      printf "| %s | %d | %d | %d | %.1f MiB | %.1f MiB | %.2f KB |\n", l, n, s, c, b / 1024, a / 1024, (a - b) * 1024 / (s > 0 ? s : 1) / 1000 }'
  done
  echo
  echo "KB is 1 000 bytes. Target: <= 8 KB per idle connection. The hard open-file limit here is"
  echo "$hard descriptors per process and cannot be raised, so one daemon holds at most about"
  echo "$max_clients WebSocket connections: 50 000 idle connections in one process cannot be"
  echo "measured on this machine."
  if [ -s "$tmp/failures" ]; then
    echo
    echo "Rows with fewer subscribed than N had clients that failed (their figure is over the"
    echo "clients that subscribed); the first failure of each client process:"
    echo
    sed 's/^/- /' "$tmp/failures"
  fi
} >"$tmp/section.md"
cat "$tmp/section.md"
python3 "$here/write_results.py" markdown idle-memory <"$tmp/section.md"
