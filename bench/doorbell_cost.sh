#!/usr/bin/env bash
# What the doorbell-only daemon costs in commit-to-client latency: the same
# fan-out load (bench/ws_loadgen: N snapshot-mode clients on one queue, R
# commits/s) against two queuecastd binaries, on one throwaway cluster, with
# the extension as released (0.1.0: changes inline in the NOTIFY payload when
# they fit, library built from git history) and as now (0.2.0: no row data).
#   before/0.1.0  the old daemon applies the inline changes (no query)
#   after/0.1.0   the new daemon ignores them and reads queuecast.changes
#   before/0.2.0  the old daemon, no inline changes: it reads too
#   after/0.2.0   the new daemon, as deployed
# Rounds alternate between the four, each with a freshly started daemon, so
# drift on this shared machine hits all of them alike; medians of the rounds.
# Loopback only; every run is bounded by `timeout`.
#
# Usage: bench/doorbell_cost.sh OLD_QUEUECASTD NEW_QUEUECASTD [rate] [seconds] [rounds] [clients]
# Prints a Markdown table and writes it to the "doorbell" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
old_daemon="$1"
new_daemon="$2"
rate="${3:-100}"
seconds="${4:-10}"
rounds="${5:-3}"
client_counts="${6:-1 1000}"
build="${QUEUECAST_BUILD:-$root/build}"
# The load generator is not built by `make`: build it here.
cmake --build "$build" --target ws_loadgen >/dev/null
release_commit=da0a9f4cf72c3c85bfd9e854a8f879f692c9d6ae  # last commit of 0.1.0
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-doorbell.XXXXXX")"
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; fi
  pgcluster_stop
  rm -rf "$tmp"
}
trap cleanup EXIT

# The 0.1.0 library, built outside the worktree.
mkdir -p "$tmp/v010"
git -C "$root" archive "$release_commit" Makefile queuecast.control extension | tar -x -C "$tmp/v010"
make -C "$tmp/v010" -j2 queuecast.so >"$tmp/v010/build.log" 2>&1 ||
  { echo "building the 0.1.0 library failed: $tmp/v010/build.log" >&2; exit 1; }
chmod 755 "$tmp" "$tmp/v010"

pgcluster_start "$tmp/cluster" "synchronous_commit = off" >/dev/null
for version in 010 020; do
  pgcluster_psql -d postgres -c "CREATE DATABASE fanout$version"
done
pgcluster_psql -d fanout010 -c "CREATE EXTENSION queuecast VERSION '0.1.0'" \
  -c "CREATE OR REPLACE FUNCTION queuecast.capture() RETURNS trigger
        AS '$tmp/v010/queuecast.so', 'queuecast_capture' LANGUAGE C"
pgcluster_psql -d fanout020 -c "CREATE EXTENSION queuecast"
for version in 010 020; do
  pgcluster_psql -d "fanout$version" -c "SELECT queuecast.create_queue('bench')" \
    -c "SELECT queuecast.enqueue('bench', 't0')" >/dev/null
done
# Check what each database's doorbell carries.
for version in 010 020; do
  payload="$(psql -X -q -d "fanout$version" -t -A -c "LISTEN queuecast" \
    -c "SELECT queuecast.enqueue('bench', 'probe')" -c "SELECT 1" 2>&1 |
    sed -n 's/.*with payload "\(.*\)" received.*/\1/p' | head -1)"
  echo "fanout$version doorbell: ${payload:0:120}" >&2
done

start_daemon() {  # binary db
  port=$(_pgcluster_free_port)
  "$1" --database "dbname=$2" --listen "127.0.0.1:$port" --log-level warn --max-clients "$(( $(ulimit -n) - 1200 ))" \
    2>>"$tmp/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "queuecastd did not become ready:" >&2
  tail -5 "$tmp/daemon.log" >&2
  exit 1
}
stop_daemon() {
  kill "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=
}

configs="before/0.1.0 after/0.1.0 before/0.2.0 after/0.2.0"
for round in $(seq "$rounds"); do
  for config in $configs; do
    binary="$old_daemon"
    [ "${config%%/*}" = after ] && binary="$new_daemon"
    db=fanout010
    [ "${config##*/}" = 0.2.0 ] && db=fanout020
    start_daemon "$binary" "$db"
    for clients in $client_counts; do
      line="$(timeout $((seconds + 90)) "$build/ws_loadgen" "$port" "dbname=$db" bench "$clients" \
        "$rate" "$seconds")"
      echo "round=$round config=$config $line" | tee -a "$tmp/lines" >&2
    done
    stop_daemon
  done
done

section="$(python3 - "$tmp/lines" "$rate" "$seconds" "$rounds" <<'PY'
import statistics, sys
path, rate, seconds, rounds = sys.argv[1:5]
runs = {}
for line in open(path):
    fields = dict(f.split("=", 1) for f in line.split())
    key = (fields["config"], int(fields["clients"]))
    runs.setdefault(key, []).append(fields)
def median(rows, name):
    return statistics.median(float(r[name]) for r in rows)
print(f"{rate} commits/s for {seconds} s per run, {rounds} rounds, medians "
      "(snapshot-mode clients on one queue; latency from just before the UPDATE "
      "to the client's receipt).\n")
print("| daemon / extension | clients | p50 | p99 | max | delivered msgs/s |")
print("|---|---|---|---|---|---|")
for (config, clients), rows in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0][-5:], kv[0][0])):
    print(f"| {config} | {clients} | {median(rows, 'p50_us') / 1000:.2f} ms | "
          f"{median(rows, 'p99_us') / 1000:.2f} ms | {median(rows, 'max_us') / 1000:.1f} ms | "
          f"{median(rows, 'delivered_per_s'):.0f} |")
print("\nEach run:\n")
print("```")
for line in open(path):
    print(line.rstrip())
print("```")
PY
)"
echo "$section"
printf '## Doorbell cost (issue 8)\n\nMeasured %s by `bench/doorbell_cost.sh OLD NEW %s %s %s "%s"` (OLD: queuecastd of the 0.1.0 release, applying inline NOTIFY changes; NEW: the doorbell-only daemon).\n\n%s\n' \
  "$(date +%F)" "$rate" "$seconds" "$rounds" "$client_counts" "$section" |
  python3 "$here/write_results.py" markdown doorbell
