#!/usr/bin/env bash
# Commit scaling (issue 12): single-row UPDATE throughput with fsync on, at
# synchronous_commit on and off and at several client counts, for capture and
# its alternatives, plus the doorbell latency, all in one run.
#
# Two throwaway clusters, both fsync = on, on the same disk:
#   plain    no shared_preload_libraries: capture rings NOTIFY in the
#            writer's transaction (PostgreSQL's cluster-wide NOTIFY lock)
#   preload  shared_preload_libraries = 'queuecast': the doorbell worker rings
# Databases (variant = cluster:database):
#   plain:bare       capture triggers disabled (no history, no NOTIFY)
#   plain:capture    queuecast's capture, doorbell in the transaction
#   plain:naive      capture off, a PL/pgSQL row trigger doing pg_notify() of
#                    the row (bench/naive_notify.sql): no history, no order
#   plain:plpgsql    the PL/pgSQL commit-order alternative
#                    (bench/plpgsql_capture.sql)
#   preload:bare     bare again, in the preloaded cluster
#   preload:capture  capture with the doorbell worker
# Preloading should not change bare (its triggers are disabled; the idle
# launcher is the only difference), but the two clusters also differ in their
# data directories and WAL files, so bare is measured in both: each capture
# ratio is against bare of its own cluster, and the two bare rows show
# whether preloading moves bare at all.
#
# Workload: every UPDATE really changes its row (attempts + 1, a new title).
# Rounds alternate between the variants so drift on this shared machine hits
# all of them alike; medians of the rounds. The doorbell latency (commit to
# NOTIFY received, bench/doorbell_latency) is measured first, for capture in
# both clusters at synchronous_commit = on. No LISTEN session runs during the
# throughput runs (a listener that stops reading would pin the NOTIFY queue).
#
# Usage: bench/commit_scaling.sh [seconds-per-run] [rounds] [client counts] [latency commits]
#        bench/commit_scaling.sh --quick    (2 s, 1 round, clients "1 16": checks the script)
# QUEUECAST_HUGE_PAGES=on runs both clusters with huge pages (reserved for the
# run as root, bench/pgbench_lib.sh) and writes the section
# "commit-scaling-huge-pages"; by default both use the kernel's 4 kB pages
# and the section is "commit-scaling".
# Every load is bounded in time (pgbench -T, timeout); loopback only.
# Writes that section of bench/RESULTS.md and prints it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"

if [ "${1:-}" = --quick ]; then
  set -- 2 1 "1 16" 100
fi
seconds="${1:-10}"
rounds="${2:-3}"
client_counts="${3:-1 4 16 64}"
latency_commits="${4:-600}"
latency_writers="1 16"
rows=10000
variants="plain:bare plain:capture plain:naive plain:plpgsql preload:bare preload:capture"
build="${QUEUECAST_BUILD:-$root/build}"
cmake --build "$build" --target doorbell_latency >/dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-commit-scaling.XXXXXX")"
cluster_dirs=()
cleanup() {
  local dir
  for dir in "${cluster_dirs[@]}"; do
    PGCLUSTER_DIR="$dir"
    pgcluster_stop
  done
  bench_huge_pages_release
  rm -rf "$tmp"
}
trap cleanup EXIT
# Two clusters of the default 128 MB of shared_buffers: about 75 each.
[ "$bench_huge_pages" = off ] || bench_huge_pages_reserve 200

# pgcluster.sh runs one cluster at a time; both stay up here (only one is
# loaded at a time), so remember each one's port and switch PGPORT.
declare -A cluster_port
start_cluster() {  # name [extra postgresql.conf lines...]
  local name="$1"
  shift
  # No checkpoint during the run: with fsync on, one would land in some
  # variant's runs and not in others.
  pgcluster_start "$tmp/$name" "fsync = on" "max_wal_size = 8GB" "checkpoint_timeout = 1h" \
    "huge_pages = $bench_huge_pages" "$@"
  cluster_dirs+=("$tmp/$name")
  cluster_port[$name]="$PGPORT"
}
use_cluster() { export PGPORT="${cluster_port[$1]}"; }

# What one WAL flush costs on this disk, before any server runs.
# (-s 1: one second per test; the first fdatasync line is one 8 kB write,
# PostgreSQL's default wal_sync_method on Linux.)
flush="$("$PG_BINDIR/pg_test_fsync" -s 1 -f "$tmp/fsync.probe" |
  awk '$1 == "fdatasync" && !done { print $2 " " $4; done = 1 }')"
rm -f "$tmp/fsync.probe"
echo "pg_test_fsync: fdatasync of one 8 kB write: ${flush% *} ops/s, ${flush#* } us each" >&2

start_cluster plain
# The worker stays up between runs (the default idle timeout of 60 s would
# have it exit and restart between the rounds, unlike under steady load).
start_cluster preload "shared_preload_libraries = 'queuecast'" "queuecast.doorbell_idle_timeout = 0"
for variant in $variants; do
  use_cluster "${variant%%:*}"
  db="${variant#*:}"
  bench_phases_db "$db" "$rows"
  case "$db" in
    bare) pgcluster_psql -d "$db" -c "ALTER TABLE queuecast.phases DISABLE TRIGGER capture" ;;
    naive) pgcluster_psql -d "$db" -f "$here/naive_notify.sql" ;;
    plpgsql) pgcluster_psql -d "$db" -f "$here/plpgsql_capture.sql" ;;
  esac
done
bench_update_script "$tmp/update.sql" "$rows"

# Doorbell latency first: a failure (a change never announced) then costs
# little. queuecast.doorbell = auto is what each cluster gives by default.
for round in $(seq "$rounds"); do
  for writers in $latency_writers; do
    for cluster in preload plain; do
      use_cluster "$cluster"
      line="$(PGOPTIONS="-c synchronous_commit=on" timeout 180 "$build/doorbell_latency" \
        "dbname=capture" auto "$latency_commits" "$writers" 2)"
      echo "round=$round cluster=$cluster $line" | tee -a "$tmp/latency" >&2
    done
  done
done
use_cluster preload
# Each database that captured has its worker (bare's too: its rows were
# inserted before its capture was disabled; the worker then sleeps).
workers="$(psql -X -Atq -d postgres -c "SELECT coalesce(string_agg(datname, ',' ORDER BY datname), 'none')
  FROM pg_stat_activity WHERE backend_type = 'queuecast doorbell'")"
echo "doorbell workers running in the preloaded cluster, for: $workers" >&2

# PGOPTIONS is how each run gets its synchronous_commit: check it arrives.
[ "$(PGOPTIONS="-c synchronous_commit=off" psql -X -Atq -d bare -c "SHOW synchronous_commit")" = off ] ||
  { echo "PGOPTIONS does not reach the server" >&2; exit 1; }

# The commit-order lock's own figures (queuecast.commit_order_stats()) around
# each preloaded capture run: how long it was held and waited for.
lock_stats() {
  psql -X -Atq -d capture -F ' ' -c "SELECT acquisitions, contended, wait_ms, hold_ms, long_holds
    FROM queuecast.commit_order_stats()"
}
lock_stats_delta() {  # before after -> acquisitions= contended= wait_ms= hold_ms= long_holds=
  python3 - "$1" "$2" <<'PY'
import sys
before, after = ([float(x) for x in arg.split()] for arg in sys.argv[1:3])
names = ("acquisitions", "contended", "wait_ms", "hold_ms", "long_holds")
print(" ".join(f"{n}={a - b:g}" for n, a, b in zip(names, after, before)))
PY
}
: >"$tmp/lock"

echo "pgbench: ${seconds}s x ${rounds} rounds, clients: ${client_counts}" >&2
for clients in $client_counts; do
  for sync in on off; do
    for round in $(seq "$rounds"); do
      for variant in $variants; do
        use_cluster "${variant%%:*}"
        [ "$variant" != preload:capture ] || lock_before="$(lock_stats)"
        tps="$(PGOPTIONS="-c synchronous_commit=$sync" \
          bench_pgbench "${variant#*:}" "$clients" "$seconds" "$tmp/update.sql")"
        echo "variant=$variant sync=$sync clients=$clients round=$round tps=$tps" |
          tee -a "$tmp/tps" >&2
        if [ "$variant" = preload:capture ]; then
          echo "sync=$sync clients=$clients round=$round $(lock_stats_delta "$lock_before" "$(lock_stats)")" \
            >>"$tmp/lock"
        fi
      done
    done
  done
done

# Sanity: each capturing database wrote a history row per UPDATE (the
# table compares the count with the transactions pgbench reported).
history=""
for variant in plain:capture preload:capture plain:plpgsql; do
  use_cluster "${variant%%:*}"
  table=queuecast.changes
  [ "$variant" = plain:plpgsql ] && table=bench_history
  history+="$variant=$(psql -X -Atq -d "${variant#*:}" -c \
    "SELECT count(*) FROM $table WHERE op = 'UPDATE'") "
done
echo "history rows: $history" >&2

# Printed through a variable, not `tee /dev/stderr`: that reopens stderr and,
# when stderr is a log file, truncates the per-run lines written above.
section="$(python3 "$here/commit_scaling_table.py" "$tmp/tps" "$tmp/latency" "$seconds" "$rounds" \
  "$client_counts" "$latency_commits" "$flush" "$workers" "$history" "$bench_huge_pages" "$tmp/lock")"
echo "$section" >&2
echo "$section" | python3 "$here/write_results.py" markdown "$(bench_section commit-scaling)"
