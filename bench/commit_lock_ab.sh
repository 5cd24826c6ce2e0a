#!/usr/bin/env bash
# Two builds of the extension's library, side by side (issue 12): capture
# against bare at one client count, synchronous_commit off and on, on fresh
# preloaded clusters (fsync on), alternating A, B, A, B so that drift on this
# shared machine hits both alike. Each block installs its library, starts a
# cluster with shared_preload_libraries = 'queuecast' and runs pgbench (one
# single-row UPDATE per transaction that really changes its row) against a
# database with capture and one with capture disabled; every ratio is against
# bare of the same block. The installed library is put back at the end.
#
# Usage: bench/commit_lock_ab.sh A.so B.so [clients] [seconds-per-run] [rounds-per-block]
#   e.g. the library of an older commit (tools/build-release-library.sh, or
#   `git stash; make`) against the working tree's queuecast.so.
# Needs write access to PostgreSQL's library directory (run as root, as CI does).
# QUEUECAST_HUGE_PAGES=on runs the clusters with huge pages (reserved for the
# run as root, bench/pgbench_lib.sh); by default they use 4 kB pages.
# Writes the section `commit-lock-ab` of bench/RESULTS.md (another name with
# QUEUECAST_SECTION=name, to keep that one's figures). Loopback only;
# every run is bounded by pgbench -T.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"
[ $# -ge 2 ] || { sed -n '2,19p' "$0"; exit 2; }
a_so="$(realpath "$1")"
b_so="$(realpath "$2")"
clients="${3:-16}"
seconds="${4:-6}"
rounds="${5:-2}"
lib="$(pg_config --pkglibdir)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-lock-ab.XXXXXX")"
cp "$lib/queuecast.so" "$tmp/installed.so"
trap 'pgcluster_stop 2>/dev/null; bench_huge_pages_release; cp "$tmp/installed.so" "$lib/queuecast.so"; rm -rf "$tmp"' EXIT
# One cluster at a time, the default 128 MB of shared_buffers: about 75.
[ "$bench_huge_pages" = off ] || bench_huge_pages_reserve 100

bench_update_script "$tmp/update.sql"
for block in A B A B; do
  if [ "$block" = A ]; then cp "$a_so" "$lib/queuecast.so"; else cp "$b_so" "$lib/queuecast.so"; fi
  bench_lock_cluster "$tmp/cluster"
  for sync in off on; do
    for round in $(seq "$rounds"); do
      bench_lock_pair "$block" "$sync" "$clients" "$seconds" "$tmp/update.sql" "$tmp/runs"
    done
  done
  pgcluster_stop
  rm -rf "$tmp/cluster"
done

section="$(python3 "$here/ratio_table.py" "$tmp/runs" library A B)"
echo "$section"
printf '## Two builds of the extension library, side by side (issue 12)\n\nMeasured %s on %s (%s cores) by `bench/commit_lock_ab.sh A B %s %s %s`: A = `%s`, B = `%s` (md5 %s / %s). pgbench, %s clients, %s s runs, one single-row UPDATE per transaction that changes its row; blocks A, B, A, B, each a fresh cluster with `shared_preload_libraries = '"'"'queuecast'"'"'`, fsync on and `huge_pages = %s`, %s rounds of bare then capture per setting; each ratio is against bare of the same round.\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$clients" "$seconds" "$rounds" "$(basename "$a_so")" "$(basename "$b_so")" \
  "$(md5sum <"$a_so" | cut -c1-8)" "$(md5sum <"$b_so" | cut -c1-8)" "$clients" "$seconds" "$bench_huge_pages" "$rounds" \
  "$section" |
  python3 "$here/write_results.py" markdown "${QUEUECAST_SECTION:-commit-lock-ab}"
