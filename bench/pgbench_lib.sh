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
