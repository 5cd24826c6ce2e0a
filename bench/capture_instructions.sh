#!/usr/bin/env bash
# What capture costs in CPU, counted rather than timed (issue 12).
#
# Throughput on this shared 2-core machine swings by 10-20 % between runs of
# the same binary, which hides a change of a few microseconds per commit.
# Instructions do not swing: valgrind's callgrind counts every instruction a
# backend executes. This runs PostgreSQL in single-user mode (one backend, no
# network, no other process) under callgrind, for N single-row UPDATE
# transactions (each really changes its row: attempts + 1, a new title) on a
# database with capture and on one with capture disabled, and reports
# instructions per transaction:
#   bare        the UPDATE and its commit
#   capture     the same with queuecast's capture
#   trigger     inside queuecast.capture() (describing the change)
#   pre-commit  writing the history row at pre-commit, lock included
#   under lock  inserting the row while holding the commit-order lock
# Each figure is the difference between a run of N and a run of N/5
# transactions from the same copy of the data directory, so start-up,
# shut-down and the first calls' cache fills cancel out.
#
# Single-user mode has no background workers: the doorbell rings in the
# transaction (the fallback without preloading), and its NOTIFY is part of
# "capture". The commit-order lock is the library's own (preloaded).
#
# Usage: bench/capture_instructions.sh [transactions]   (default 2500)
# Needs valgrind (tools/install-deps.sh installs it). Nothing listens on any
# port. Writes the "capture-instructions" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"

transactions="${1:-2500}"
short=$((transactions / 5))
rows=10000
command -v valgrind >/dev/null || {
  echo "valgrind is missing: run tools/install-deps.sh (as root)" >&2
  exit 1
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-instructions.XXXXXX")"
trap 'pgcluster_stop 2>/dev/null; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
pgcluster_start "$tmp/cluster" "shared_preload_libraries = 'queuecast'" >/dev/null
for db in bare capture; do bench_phases_db "$db" "$rows" >/dev/null; done
pgcluster_psql -d bare -c "ALTER TABLE queuecast.phases DISABLE TRIGGER capture" >/dev/null
pgcluster_psql -d postgres -c "CHECKPOINT" >/dev/null
_pgcluster_as_owner "$PG_BINDIR/pg_ctl" -D "$tmp/cluster/data" -m fast -w stop >/dev/null

# The same pseudo-random ids for every run.
script() {  # count -> file
  python3 - "$1" "$rows" >"$tmp/run.$1.sql" <<'PY'
import random, sys
count, rows = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(12)
print("PREPARE u(int) AS UPDATE queuecast.phases SET attempts = attempts + 1, "
      "title = 'x' || random() WHERE id = $1;")
for _ in range(count):
    print("EXECUTE u(%d);" % rng.randint(1, rows))
PY
}
script "$transactions"
script "$short"
chmod a+rx "$tmp"
chmod a+r "$tmp"/run.*.sql
# callgrind writes as the server's user (postgres, when we are root)
mkdir "$tmp/out"
[ "$(id -u)" != 0 ] || chown postgres "$tmp/out"

# run DB COUNT: sets $out to the path of the callgrind output. Not called
# in $(...): its `exit 1` must end the script, not a subshell.
run() {
  local db="$1" count="$2" data="$tmp/data.$1.$2"
  out="$tmp/out/callgrind.$1.$2"
  cp -a "$tmp/cluster/data" "$data"
  _pgcluster_as_owner valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$PG_BINDIR/postgres" --single -D "$data" -c synchronous_commit=off "$db" \
    <"$tmp/run.$count.sql" >"$tmp/output.$db.$count" 2>"$tmp/valgrind.$db.$count" || true
  if [ ! -s "$out" ] || grep -qE 'ERROR|FATAL|^valgrind:' "$tmp/output.$db.$count" "$tmp/valgrind.$db.$count"; then
    echo "the $db run failed (valgrind runs as the server's user: its TMPDIR must be writable by it):" >&2
    grep -hE -m3 'ERROR|FATAL|^valgrind:' "$tmp/output.$db.$count" "$tmp/valgrind.$db.$count" >&2
    exit 1
  fi
  rm -rf "$data"
}

# inclusive FILE PATTERN -> the inclusive instruction count of the first
# function whose name contains PATTERN (0 if none). The awk programs read to
# the end: leaving early would fail the pipeline (SIGPIPE, pipefail).
inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v pattern="$2" '!found && index($0, pattern) { gsub(",", "", $1); print $1; found = 1 }
      END { if (!found) print 0 }'
}
total() {
  callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

declare -A figure
for db in bare capture; do
  run "$db" "$transactions"
  long="$out"
  run "$db" "$short"
  brief="$out"
  echo "$db: callgrind done" >&2
  figure[$db]=$(($(total "$long") - $(total "$brief")))
  if [ "$db" = capture ]; then
    figure[trigger]=$(($(inclusive "$long" ':queuecast_capture [') - $(inclusive "$brief" ':queuecast_capture [')))
    figure[pre_commit]=$(($(inclusive "$long" 'queuecast::write_buffered()') -
      $(inclusive "$brief" 'queuecast::write_buffered()')))
    figure[under_lock]=$(($(inclusive "$long" 'queuecast::history_writer::insert(') -
      $(inclusive "$brief" 'queuecast::history_writer::insert(')))
  fi
done

n=$((transactions - short))
section="$(
  python3 - "$n" "${figure[bare]}" "${figure[capture]}" "${figure[trigger]}" \
    "${figure[pre_commit]}" "${figure[under_lock]}" "$transactions" "$short" <<'PY'
import sys
n = int(sys.argv[1])
bare, capture, trigger, pre_commit, under_lock = (int(x) / n for x in sys.argv[2:7])
print("| per transaction | instructions | of bare |")
print("|---|---|---|")
print(f"| bare (UPDATE and commit) | {bare:,.0f} | 1.00 |")
print(f"| capture (the same, captured) | {capture:,.0f} | {capture / bare:.2f} |")
print(f"| capture's extra | {capture - bare:,.0f} | {(capture - bare) / bare:.2f} |")
print(f"| of it: trigger (describing the change) | {trigger:,.0f} | {trigger / bare:.2f} |")
print(f"| of it: pre-commit write, lock included | {pre_commit:,.0f} | {pre_commit / bare:.2f} |")
print(f"| of that: the insert under the commit-order lock | {under_lock:,.0f} | {under_lock / bare:.2f} |")
print()
print(f"Each figure: instructions of a run of {sys.argv[7]} transactions minus a run of "
      f"{sys.argv[8]}, divided by {n}.")
PY
)"
echo "$section"
printf '## CPU cost of capture, in instructions (issue 12)\n\nMeasured %s on %s by `bench/capture_instructions.sh %s`: PostgreSQL %s in single-user mode under valgrind'"'"'s callgrind, one single-row UPDATE per transaction that changes its row, on %s phases; library md5 %s. Instruction counts do not depend on the machine'"'"'s load, so this figure moves only when the code does. In single-user mode the doorbell rings inside the transaction (no worker).\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$transactions" "$("$PG_BINDIR/postgres" --version | awk '{print $3}')" \
  "$rows" "$(bench_installed_md5)" "$section" |
  python3 "$here/write_results.py" markdown capture-instructions
