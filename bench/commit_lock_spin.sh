#!/usr/bin/env bash
# How long a writer should retry the commit-order lock before it sleeps
# (queuecast.commit_lock_spin, issue 12): capture against bare at one client
# count, synchronous_commit off and on, for several settings, in one
# preloaded cluster (fsync on) with the installed library. Each round runs
# bare then capture for every setting in turn, so drift on this shared
# machine hits all settings alike; each ratio is against bare of the same
# round and setting.
#
# Usage: bench/commit_lock_spin.sh [clients] [seconds-per-run] [rounds] [settings...]
#   default: 16 clients, 6 s runs, 2 rounds, settings 0 50 1000 20000 (µs)
# Writes the section `commit-lock-spin` of bench/RESULTS.md. Loopback only;
# every run is bounded by pgbench -T.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"
clients="${1:-16}"
seconds="${2:-6}"
rounds="${3:-2}"
shift $(($# < 3 ? $# : 3))
settings=("$@")
[ "${#settings[@]}" -gt 0 ] || settings=(0 50 1000 20000)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-lock-spin.XXXXXX")"
trap 'pgcluster_stop 2>/dev/null; rm -rf "$tmp"' EXIT

bench_update_script "$tmp/update.sql"
bench_lock_cluster "$tmp/cluster"
for round in $(seq "$rounds"); do
  for sync in off on; do
    for spin in "${settings[@]}"; do
      bench_lock_pair "$spin" "$sync" "$clients" "$seconds" "$tmp/update.sql" "$tmp/runs" \
        "-c queuecast.commit_lock_spin=$spin"
    done
  done
done

section="$(python3 "$here/ratio_table.py" "$tmp/runs" "commit_lock_spin (µs)" "${settings[@]}")"
echo "$section"
printf '## How long to retry the commit-order lock before sleeping (issue 12)\n\nMeasured %s on %s (%s cores) by `bench/commit_lock_spin.sh %s %s %s %s`, library md5 %s: pgbench, %s clients, %s s runs, one single-row UPDATE per transaction that changes its row, one cluster with `shared_preload_libraries = '"'"'queuecast'"'"'` (the lock in shared memory) and fsync on; each round runs bare then capture for every setting in turn; each ratio is against bare of the same round and setting.\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$clients" "$seconds" "$rounds" "${settings[*]}" \
  "$(bench_installed_md5)" "$clients" "$seconds" "$section" |
  python3 "$here/write_results.py" markdown commit-lock-spin
