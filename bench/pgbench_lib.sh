# shellcheck shell=bash
# Shared by the pgbench benchmarks (bench/capture_bench.sh,
# bench/commit_scaling.sh): a database of queuecast.phases rows to update, a
# pgbench run that fails loudly, and the median of a column of numbers.
# Source after tests/harness/pgcluster.sh; the functions use the cluster of
# the current PGHOST/PGPORT.

# bench_phases_db DB ROWS [CREATE-EXTENSION SQL]
# A database with the extension, a queue 'bench' and ROWS phases (ids 1..ROWS).
# The third argument replaces `CREATE EXTENSION queuecast` (another version).
bench_phases_db() {
  local db="$1" rows="$2" create="${3:-CREATE EXTENSION queuecast}"
  pgcluster_psql -d postgres -c "CREATE DATABASE $db"
  pgcluster_psql -d "$db" <<SQL
$create;
SELECT queuecast.create_queue('bench');
INSERT INTO queuecast.phases (queue, title) SELECT 'bench', 'phase ' || g FROM generate_series(1, $rows) g;
VACUUM ANALYZE;
SQL
}

# bench_pgbench DB CLIENTS SECONDS SCRIPT -> prints tps
# pgbench exits non-zero when a client aborted; then, or when no tps line
# came out, its stderr is shown and the caller fails (set -e), rather than a
# missing figure turning up as an empty table cell later.
bench_pgbench() {
  local db="$1" clients="$2" seconds="$3" script="$4" out err
  err="$(mktemp)"
  if ! out="$("$PG_BINDIR/pgbench" -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "$script" \
    "$db" 2>"$err")" || ! grep -q '^tps = ' <<<"$out"; then
    echo "pgbench on $db with $clients clients failed:" >&2
    tail -5 "$err" >&2
    rm -f "$err"
    return 1
  fi
  rm -f "$err"
  awk '/^tps = / { print $3 }' <<<"$out"
}

# bench_median < numbers -> the median (the lower middle one of an even count)
bench_median() {
  sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# bench_lock_cluster DIR
# For the commit-order-lock benchmarks (bench/commit_lock_ab.sh,
# bench/commit_lock_spin.sh): a preloaded cluster in DIR with fsync on, and
# databases `bare` (capture disabled) and `capture` of 10 000 phases each.
bench_lock_cluster() {
  pgcluster_start "$1" "fsync = on" "max_wal_size = 8GB" "checkpoint_timeout = 1h" \
    "shared_preload_libraries = 'queuecast'" "queuecast.doorbell_idle_timeout = 0" >/dev/null
  local db
  for db in bare capture; do bench_phases_db "$db" 10000 >/dev/null; done
  pgcluster_psql -d bare -c "ALTER TABLE queuecast.phases DISABLE TRIGGER capture" >/dev/null
}

# bench_lock_pair KEY SYNC CLIENTS SECONDS SCRIPT RUNS [OPTIONS]
# pgbench on bare, then on capture, with synchronous_commit = SYNC (and
# OPTIONS, more -c settings); appends `KEY SYNC bare_tps capture_tps` to RUNS
# (bench/ratio_table.py reads it) and shows it on stderr.
bench_lock_pair() {
  local key="$1" sync="$2" clients="$3" seconds="$4" script="$5" runs="$6" options="${7:-}"
  local bare capture
  bare=$(PGOPTIONS="-c synchronous_commit=$sync $options" bench_pgbench bare "$clients" "$seconds" "$script")
  capture=$(PGOPTIONS="-c synchronous_commit=$sync $options" bench_pgbench capture "$clients" "$seconds" "$script")
  echo "$key $sync $bare $capture" | tee -a "$runs" >&2
}
