#!/usr/bin/env bash
# Where a capturing commit's CPU goes (issue 12): perf samples every CPU while
# pgbench runs, once on a database with capture and once on one without, and
# the samples are divided by the commits pgbench made. The table gives CPU
# microseconds per commit by who spent them (pgbench, the backends' own code,
# queuecast.so, the kernel by system call, the WAL writer, the doorbell
# worker), bare against capture, so the difference is capture's price split
# into its parts.
#
# One preloaded cluster (fsync on, synchronous_commit = off: the CPU-bound
# case, where waiting for the commit-order lock costs CPU and not the disk),
# 10 000 phases, one single-row UPDATE per transaction that changes its row.
# Rounds alternate bare and capture; samples and commits are summed over the
# rounds. perf's cpu-clock event works without hardware counters (this VM
# has none); in the kernel it lands where interrupts come back on, so kernel
# time is told apart by the system call (or fault) it was spent in, read off
# the call chain, not by kernel function.
#
# Usage: bench/commit_cpu_profile.sh [seconds-per-run] [rounds] [client counts]
#        bench/commit_cpu_profile.sh --quick   (2 s, 1 round, 4 clients: checks the script)
# QUEUECAST_OPTIONS adds settings to every run's PGOPTIONS, e.g.
#   QUEUECAST_OPTIONS="-c queuecast.commit_lock_spin=0"
# QUEUECAST_HUGE_PAGES=on runs the cluster with huge pages (reserved for the
# run as root); by default it uses the kernel's 4 kB pages.
# Needs perf (Debian's linux-perf) and root (perf record -a). Loopback only;
# every run is bounded by pgbench -T. Writes the `commit-cpu-profile`
# section of bench/RESULTS.md (`commit-cpu-profile-huge-pages` with huge
# pages) and prints it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"

if [ "${1:-}" = --quick ]; then
  set -- 2 1 4
fi
seconds="${1:-8}"
rounds="${2:-2}"
client_counts="${3:-4 16}"
frequency=999 # samples per second per CPU

bench_require_perf
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-cpu-profile.XXXXXX")"
trap 'pgcluster_stop 2>/dev/null; bench_huge_pages_release; rm -rf "$tmp"' EXIT

[ "$bench_huge_pages" = off ] || bench_huge_pages_reserve 100
bench_lock_cluster "$tmp/cluster"
bench_update_script "$tmp/update.sql"

# Which server process is which: the table names the WAL writer and the
# doorbell worker apart from the backends pgbench talks to.
server_roles() {
  psql -X -Atq -d postgres -c "SELECT pid, backend_type FROM pg_stat_activity
    WHERE backend_type <> 'client backend'" | tr '|' '\t'
}

for clients in $client_counts; do
  for round in $(seq "$rounds"); do
    for db in bare capture; do
      # Warm the connections' caches and the table before sampling.
      PGOPTIONS="-c synchronous_commit=off ${QUEUECAST_OPTIONS:-}" bench_pgbench "$db" "$clients" 2 "$tmp/update.sql" >/dev/null
      run="$tmp/$db.$clients.$round"
      server_roles >"$run.roles"
      PGOPTIONS="-c synchronous_commit=off ${QUEUECAST_OPTIONS:-}" perf record -q -a -g -F "$frequency" -o "$run.data" -- \
        "$PG_BINDIR/pgbench" -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "$tmp/update.sql" \
        "$db" >"$run.out" 2>"$run.err" || {
        echo "pgbench or perf failed on $db with $clients clients:" >&2
        tail -5 "$run.err" >&2
        exit 1
      }
      commits="$(bench_commits "$run.out")"
      perf script -i "$run.data" -F comm,pid,ip,sym,dso 2>/dev/null |
        python3 "$here/commit_cpu_profile.py" classify "$run.roles" >"$run.classes"
      echo "$commits" >"$run.commits"
      rm -f "$run.data"
      echo "clients=$clients round=$round db=$db commits=$commits" \
        "tps=$(awk '/^tps = / { print $3 }' "$run.out")" >&2
    done
  done
done

section="$(python3 "$here/commit_cpu_profile.py" table "$tmp" "$frequency" "$seconds" "$rounds" "$client_counts" \
  "$(bench_installed_md5)" "${QUEUECAST_OPTIONS:-}" "$bench_huge_pages")"
echo "$section"
echo "$section" | python3 "$here/write_results.py" markdown "$(bench_section commit-cpu-profile)"
