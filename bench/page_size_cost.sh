#!/usr/bin/env bash
# What the page size of shared memory costs capture, in CPU per commit
# (issue 12). Capture/bare differs much more between 4 kB and huge pages on
# this machine than the instructions capture adds would explain; this counts
# where the difference is: `perf stat -a` (software events, no hardware
# counters needed) around each pgbench run gives the CPU time of the whole
# machine, its context switches and its page faults, each divided by the
# commits pgbench made.
#
# Blocks huge_pages = off, on, off, on, each a fresh preloaded cluster (fsync
# on, the default 128 MB of shared_buffers, bench_lock_cluster); in each,
# ROUNDS rounds of bare then capture, synchronous_commit = off (CPU-bound),
# one single-row UPDATE per transaction that changes its row. Figures are
# summed over the runs of each page size.
#
# Usage: bench/page_size_cost.sh [clients] [seconds-per-run] [rounds-per-block] [library.so]
#   library.so: measure that build of the extension instead of the installed
#   one (installed for the run, put back at the end), e.g. the measurement
#   build of bench/experiments/commit-lock-none.diff, to see the price of the
#   history without the commit-order lock.
# Needs perf (make deps installs linux-perf) and root (perf stat -a, huge
# pages). Loopback only; every run is bounded by pgbench -T. Writes the
# section `page-size-cost` of bench/RESULTS.md (another name with
# QUEUECAST_SECTION=name) and prints it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"

clients="${1:-16}"
seconds="${2:-8}"
rounds="${3:-2}"
library="${4:-}"
bench_require_perf
lib="$(pg_config --pkglibdir)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-page-size.XXXXXX")"
cp "$lib/queuecast.so" "$tmp/installed.so"
trap 'pgcluster_stop 2>/dev/null; bench_huge_pages_release; cp "$tmp/installed.so" "$lib/queuecast.so"; rm -rf "$tmp"' EXIT
[ -z "$library" ] || cp "$library" "$lib/queuecast.so"
measured_md5="$(bench_installed_md5)"
# One cluster at a time, the default 128 MB of shared_buffers: about 75.
bench_huge_pages_reserve 100

bench_update_script "$tmp/update.sql"
chmod 644 "$tmp/update.sql"
: >"$tmp/runs"
for pages in off on off on; do
  bench_lock_cluster "$tmp/cluster" "$pages"
  for _ in $(seq "$rounds"); do
    for db in bare capture; do
      run="$tmp/run"
      PGOPTIONS="-c synchronous_commit=off" perf stat -a -x, -e task-clock,context-switches,page-faults \
        -o "$run.stat" -- "$PG_BINDIR/pgbench" -n -M prepared -c "$clients" -j 2 -T "$seconds" \
        -f "$tmp/update.sql" "$db" >"$run.out" 2>"$run.err" || {
        echo "pgbench or perf failed on $db:" >&2
        tail -5 "$run.err" >&2
        exit 1
      }
      commits="$(bench_commits "$run.out")"
      # perf stat -x, lines: value,unit,event,...
      read -r cpu_ms switches faults < <(awk -F, '
        $3 ~ /^task-clock/ { ms = $1 } $3 ~ /^context-switches/ { cs = $1 } $3 ~ /^page-faults/ { pf = $1 }
        END { print ms, cs, pf }' "$run.stat")
      if [ -z "$faults" ]; then
        echo "perf stat counted nothing on $db; its output:" >&2
        cat "$run.stat" >&2
        exit 1
      fi
      echo "$pages $db $commits $seconds $cpu_ms $switches $faults" | tee -a "$tmp/runs" >&2
    done
  done
  pgcluster_stop
  rm -rf "$tmp/cluster"
done

# What the machine is: a hypervisor that shadows the guest's page tables makes
# every page-table change and TLB refill dearer, and the 4 kB figures with it.
hypervisor="$( (dmesg 2>/dev/null || true) | sed -n 's/.*Hypervisor detected: //p' | head -1)"
[ -n "$hypervisor" ] || hypervisor="$(systemd-detect-virt 2>/dev/null || echo unknown)"

table="$(python3 - "$tmp/runs" <<'PY'
import sys
from collections import defaultdict
sums = defaultdict(lambda: [0.0] * 5)  # commits, seconds, cpu_ms, switches, faults
for line in open(sys.argv[1]):
    pages, db, *values = line.split()
    for i, v in enumerate(values):
        sums[pages, db][i] += float(v)
def per_commit(pages, db):
    commits, secs, cpu_ms, switches, faults = sums[pages, db]
    return commits / secs, cpu_ms * 1000 / commits, switches / commits, faults / commits
print("| huge_pages | tps bare | tps capture | capture / bare | CPU µs per commit, bare | capture | capture − bare "
      "| context switches per commit, bare / capture | page faults per commit, bare / capture |")
print("|---|---|---|---|---|---|---|---|---|")
for pages in ("off", "on"):
    b, c = per_commit(pages, "bare"), per_commit(pages, "capture")
    print(f"| {pages} | {b[0]:.0f} | {c[0]:.0f} | {c[0] / b[0]:.2f} | {b[1]:.1f} | {c[1]:.1f} | {c[1] - b[1]:+.1f} "
          f"| {b[2]:.2f} / {c[2]:.2f} | {b[3]:.2f} / {c[3]:.2f} |")
PY
)"
section="$(printf '## What the page size costs capture, in CPU per commit (issue 12)\n\nMeasured %s on %s (%s cores, hypervisor: %s) by `bench/page_size_cost.sh %s %s %s%s`, library md5 %s: `perf stat -a` (task-clock, context switches, page faults of the whole machine) around each pgbench run, %s clients, %s s runs, `synchronous_commit = off`, one single-row UPDATE per transaction that changes its row; blocks huge_pages = off, on, off, on, each a fresh preloaded cluster with fsync on and the default 128 MB of shared_buffers, %s rounds of bare then capture; each figure is summed over the runs of its page size and divided by their commits.\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$hypervisor" "$clients" "$seconds" "$rounds" \
  "${library:+ $(basename "$library")}" "$measured_md5" "$clients" "$seconds" "$rounds" "$table")"
echo "$section"
echo "$section" | python3 "$here/write_results.py" markdown "${QUEUECAST_SECTION:-page-size-cost}"
