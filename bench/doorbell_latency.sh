#!/usr/bin/env bash
# Doorbell latency: from a change's commit (its committed_at) to a listener's
# receipt of the first NOTIFY queuecast that announces it, for the two
# doorbells (docs/capture.md, "The doorbell"): rung by the writer's own
# transaction (queuecast.doorbell = in_transaction) and by the doorbell
# worker (auto, on a cluster with shared_preload_libraries = 'queuecast').
# One throwaway cluster, fsync and synchronous_commit on; modes alternate
# each round so drift on this shared machine hits both alike; medians of the
# rounds. Bounded: COMMITS per run, each run at most 120 s; loopback only.
#
# Usage: bench/doorbell_latency.sh [commits] [rounds] [writer counts]
# Prints a Markdown table and writes it to the "doorbell-latency" section of
# bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
commits="${1:-500}"
rounds="${2:-3}"
writer_counts="${3:-1 8}"
pause_ms=2
build="${QUEUECAST_BUILD:-$root/build}"
cmake --build "$build" --target doorbell_latency >/dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-doorbell-latency.XXXXXX")"
trap 'pgcluster_stop; rm -rf "$tmp"' EXIT
pgcluster_start "$tmp/cluster" "shared_preload_libraries = 'queuecast'" "fsync = on" \
  "synchronous_commit = on" >/dev/null
pgcluster_psql -d postgres -c "CREATE DATABASE latency"
pgcluster_psql -d latency -c "CREATE EXTENSION queuecast" -c "SELECT queuecast.create_queue('bench')" >/dev/null

for round in $(seq "$rounds"); do
  for writers in $writer_counts; do
    for mode in auto in_transaction; do
      line="$(timeout 180 "$build/doorbell_latency" "dbname=latency" "$mode" "$commits" "$writers" "$pause_ms")"
      echo "round=$round $line" | tee -a "$tmp/lines"
    done
  done
done

section="$(python3 - "$tmp/lines" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    fields = dict(f.split("=", 1) for f in line.split())
    runs.setdefault((int(fields["writers"]), fields["mode"]), []).append(fields)
def median(rows, name):
    return statistics.median(float(r[name]) for r in rows)
names = {"auto": "worker", "in_transaction": "in the writer's transaction"}
print("| writers | doorbell | commits per run | bells per run | p50 | p99 | max |")
print("|---|---|---|---|---|---|---|")
for (writers, mode), rows in sorted(runs.items()):
    print(f"| {writers} | {names[mode]} | {median(rows, 'commits'):.0f} | {median(rows, 'bells'):.0f} | "
          f"{median(rows, 'p50_us') / 1000:.2f} ms | {median(rows, 'p99_us') / 1000:.2f} ms | "
          f"{median(rows, 'max_us') / 1000:.1f} ms |")
print("\nEach run:\n")
print("```")
for line in open(sys.argv[1]):
    print(line.rstrip())
print("```")
PY
)"
echo "$section"
printf '## Doorbell latency (issue 12)\n\nMeasured %s on %s (%s cores) by `bench/doorbell_latency.sh %s %s "%s"`: from a change'"'"'s `committed_at` to the receipt of the first NOTIFY that announces it, single-change commits (`queuecast.enqueue`), each writer pausing %s ms between commits; `fsync = on`, `synchronous_commit = on`; medians of %s rounds. The worker rings after the writer'"'"'s commit is visible, in a transaction of its own, coalescing what committed meanwhile (fewer bells than commits).\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$commits" "$rounds" "$writer_counts" "$pause_ms" "$rounds" "$section" |
  python3 "$here/write_results.py" markdown doorbell-latency
