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

# bench_require_perf: fails, saying how to get it, when perf is missing
# (bench/commit_cpu_profile.sh, bench/page_size_cost.sh).
bench_require_perf() {
  command -v perf >/dev/null && return 0
  echo "perf is missing: apt-get install linux-perf (make deps installs it)" >&2
  return 1
}

# bench_commits PGBENCH-OUTPUT -> the transactions pgbench made, from its
# output file; fails when there is no count or it is 0 (a per-commit figure
# would divide by it).
bench_commits() {
  local commits
  commits="$(awk '/^number of transactions actually processed:/ { print $NF }' "$1" | cut -d/ -f1)"
  if [ -z "$commits" ] || [ "$commits" -eq 0 ]; then
    echo "no transactions counted in $1" >&2
    return 1
  fi
  echo "$commits"
}

# bench_update_script FILE [ROWS]
# The workload of the commit benchmarks, one definition so that their figures
# compare: one single-row UPDATE per transaction of a random one of ROWS
# (default 10 000) phases, that really changes the row (attempts + 1, a new
# title), so that capture writes a history row for each.
bench_update_script() {
  cat >"$1" <<SQL
\\set id random(1, ${2:-10000})
UPDATE queuecast.phases SET attempts = attempts + 1, title = 'x' || random() WHERE id = :id;
SQL
}

# bench_installed_md5 -> the first 8 hex digits of the md5 of the installed
# queuecast.so, which the sections name as the library they measured.
bench_installed_md5() {
  md5sum <"$(pg_config --pkglibdir)/queuecast.so" | cut -c1-8
}

# bench_median < numbers -> the median (the lower middle one of an even count)
bench_median() {
  sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# bench_lock_cluster DIR [HUGE_PAGES]
# For the commit-order-lock benchmarks (bench/commit_lock_ab.sh,
# bench/commit_lock_spin.sh, ...): a preloaded cluster in DIR with fsync on,
# and databases `bare` (capture disabled) and `capture` of 10 000 phases each.
# HUGE_PAGES is its huge_pages setting, default bench_huge_pages.
bench_lock_cluster() {
  pgcluster_start "$1" "fsync = on" "max_wal_size = 8GB" "checkpoint_timeout = 1h" \
    "shared_preload_libraries = 'queuecast'" "queuecast.doorbell_idle_timeout = 0" \
    "huge_pages = ${2:-$bench_huge_pages}" >/dev/null
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

# --- huge pages -------------------------------------------------------------
# PostgreSQL's default, huge_pages = try, uses huge pages whenever the kernel
# has some reserved, so a benchmark's figures would depend on the machine's
# vm.nr_hugepages without saying so. The clusters of bench_lock_cluster and
# bench/commit_scaling.sh set it explicitly: with QUEUECAST_HUGE_PAGES=on,
# huge pages (commit_scaling.sh and commit_cpu_profile.sh reserve them with
# bench_huge_pages_reserve; huge_pages_ab.sh runs both page sizes), else the
# kernel's ordinary 4 kB pages. docs/capture.md, "Huge pages", has what they
# change for capture.
case "${QUEUECAST_HUGE_PAGES:-off}" in
  on | off) bench_huge_pages="${QUEUECAST_HUGE_PAGES:-off}" ;;
  *)
    echo "QUEUECAST_HUGE_PAGES is on or off, not '$QUEUECAST_HUGE_PAGES'" >&2
    exit 2
    ;;
esac
bench_huge_pages_before=""

# bench_huge_pages_reserve PAGES
# Makes sure the kernel has at least PAGES free huge pages (a cluster with
# the default 128 MB of shared_buffers needs about 75 of 2 MB), raising
# vm.nr_hugepages as root. The previous value is put back by
# bench_huge_pages_release: call it from the script's exit trap, after the
# clusters have stopped. Fails, saying why and what to do, where it cannot.
bench_huge_pages_reserve() {
  local want="$1" total free
  total="$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)"
  free="$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)"
  if [ -z "$total" ]; then
    echo "this kernel offers no huge pages (no HugePages_Total in /proc/meminfo)" >&2
    return 1
  fi
  [ "$free" -lt "$want" ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$free huge pages free, $want needed: as root, sysctl -w vm.nr_hugepages=$((total + want - free))" >&2
    return 1
  fi
  bench_huge_pages_before="$total"
  sysctl -q -w vm.nr_hugepages=$((total + want - free)) >/dev/null
  free="$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)"
  if [ "$free" -lt "$want" ]; then
    echo "the kernel gave $free free huge pages of the $want asked for (memory too fragmented?)" >&2
    bench_huge_pages_release
    return 1
  fi
}

# bench_section NAME -> the RESULTS.md section a benchmark writes: NAME, or
# NAME-huge-pages when it runs with huge pages, so that one page size never
# overwrites the other's figures.
bench_section() {
  if [ "$bench_huge_pages" = on ]; then echo "$1-huge-pages"; else echo "$1"; fi
}

bench_huge_pages_release() {
  [ -n "$bench_huge_pages_before" ] || return 0
  sysctl -q -w vm.nr_hugepages="$bench_huge_pages_before" >/dev/null || true
  bench_huge_pages_before=""
}
