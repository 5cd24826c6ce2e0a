#!/usr/bin/env bash
# Capture with the kernel's 4 kB pages against huge pages (issue 12): the
# installed library, capture against bare at each client count, with
# synchronous_commit off and on, on fresh preloaded clusters (fsync on) that
# alternate huge_pages = off, on, off, on so that drift on this shared
# machine hits both alike. pgbench runs one single-row UPDATE per
# transaction that really changes its row; every ratio is against bare of
# the same block, so each page size is compared with bare on that page size.
#
# Huge pages need the kernel to hold some in reserve (vm.nr_hugepages, 0 on a
# fresh Debian): as root this script reserves what it needs for the run and
# puts the old value back at the end; otherwise it says what to run.
#
# Usage: bench/huge_pages_ab.sh [client counts] [seconds-per-run] [rounds-per-block]
# Loopback only; every run is bounded by pgbench -T. Writes the section
# `huge-pages-ab` of bench/RESULTS.md and prints it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"
client_counts="${1:-4 16}"
seconds="${2:-6}"
rounds="${3:-2}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-huge-pages.XXXXXX")"
trap 'pgcluster_stop 2>/dev/null; bench_huge_pages_release; rm -rf "$tmp"' EXIT

bench_huge_pages_reserve 100
bench_update_script "$tmp/update.sql"
keys=()
for pages in off on off on; do
  bench_lock_cluster "$tmp/cluster" "$pages"
  for clients in $client_counts; do
    for sync in off on; do
      for round in $(seq "$rounds"); do
        bench_lock_pair "$pages/$clients" "$sync" "$clients" "$seconds" "$tmp/update.sql" "$tmp/runs"
      done
    done
  done
  pgcluster_stop
  rm -rf "$tmp/cluster"
done
for clients in $client_counts; do keys+=("off/$clients" "on/$clients"); done

table="$(python3 "$here/ratio_table.py" "$tmp/runs" "huge_pages / clients" "${keys[@]}")"
section="$(printf '## Huge pages against 4 kB pages (issue 12)\n\nMeasured %s on %s (%s cores, %s kB huge pages) by `bench/huge_pages_ab.sh "%s" %s %s`, library md5 %s: pgbench, %s s runs, one single-row UPDATE per transaction that changes its row; blocks huge_pages = off, on, off, on, each a fresh cluster with `shared_preload_libraries = '"'"'queuecast'"'"'`, the default 128 MB of shared_buffers and fsync on, %s rounds of bare then capture per client count and setting; each ratio is against bare of the same round, so each page size is compared with bare on the same page size.\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)" \
  "$client_counts" "$seconds" "$rounds" "$(bench_installed_md5)" \
  "$seconds" "$rounds" "$table")"
echo "$section"
echo "$section" | python3 "$here/write_results.py" markdown huge-pages-ab
