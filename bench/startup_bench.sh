#!/usr/bin/env bash
# How fast queuecastd is ready on a large database, and what it holds in
# memory: 100 000 phases in 1 000 queues (and 2 000 workflows of 5 phases
# among them). From process start to the first /readyz 200, with the peak and
# the settled resident set (VmHWM, VmRSS). The baseline of the same run is
# PostgreSQL alone producing every queue's snapshot once, as one query
# through psql — the least any loader must wait for. Optionally an older
# daemon binary is measured in the same rounds.
# Loopback only; every wait is bounded.
#
# Usage: bench/startup_bench.sh [rounds] [old_queuecastd]
# Prints a Markdown table and writes it to the "startup" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
rounds="${1:-3}"
old_daemon="${2:-}"
build="${QUEUECAST_BUILD:-$root/build}"
queues=1000
phases_per_queue=100
workflows=2000

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-startup.XXXXXX")"
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill -9 "$daemon_pid" 2>/dev/null || true; fi
  pgcluster_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"

pgcluster_start "$tmp/cluster" >/dev/null
pgcluster_psql -d postgres -c "CREATE DATABASE startup" >/dev/null
pgcluster_psql -d startup -c "CREATE EXTENSION queuecast" >/dev/null
echo "filling: $queues queues, $((queues * phases_per_queue)) phases, $workflows workflows" >&2
pgcluster_psql -d startup >/dev/null <<SQL
INSERT INTO queuecast.queues (name) SELECT 'q' || i FROM generate_series(1, $queues) i;
INSERT INTO queuecast.workflows (queue, title, status)
  SELECT 'q' || (1 + i % $queues), 'workflow ' || i, 'running' FROM generate_series(1, $workflows) i;
-- Five phases of each workflow, then plain phases up to $phases_per_queue a queue.
INSERT INTO queuecast.phases (queue, workflow_id, phase_number, title, status, payload)
  SELECT w.queue, w.id, n, 'step ' || n, CASE WHEN n = 1 THEN 'running' ELSE 'blocked' END,
         '{"input": "s3://bucket/object"}'
  FROM queuecast.workflows w, generate_series(1, 5) n;
INSERT INTO queuecast.phases (queue, title, status, priority, worker, payload)
  SELECT q.name, 'job ' || i, (ARRAY['queued','running','completed','failed'])[1 + i % 4], i % 3,
         CASE WHEN i % 4 = 1 THEN 'worker-' || (i % 16) END, '{"input": "s3://bucket/object"}'
  FROM queuecast.queues q,
       generate_series(1, $phases_per_queue - (SELECT count(*) FROM queuecast.phases p WHERE p.queue = q.name)) i;
VACUUM ANALYZE;
SQL
total=$(pgcluster_psql -d startup -Atc "SELECT count(*) FROM queuecast.phases")
echo "phases: $total" >&2

now_ms() { date +%s%3N; }

# Seconds until one query has every queue's snapshot (psql discards it).
baseline_once() {
  local t0 t1
  t0=$(now_ms)
  pgcluster_psql -d startup -Atc \
    "SELECT length(json_object_agg(name, queuecast.snapshot(name))::text) FROM queuecast.queues" >/dev/null
  t1=$(now_ms)
  echo "$((t1 - t0))"
}

# "ms_to_ready peak_kib settled_kib" for one daemon binary.
daemon_once() {
  local binary="$1" port t0 t1 status
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  t0=$(now_ms)
  "$binary" --database "host=127.0.0.1 port=$PGPORT user=postgres dbname=startup" \
    --listen "127.0.0.1:$port" --log-level warn 2>"$tmp/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 1 6000); do  # 60 s at most
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
    [ "$status" = 200 ] && break
    sleep 0.01
  done
  t1=$(now_ms)
  [ "$status" = 200 ] || { echo "daemon not ready in 60 s: $(tail -3 "$tmp/daemon.log")" >&2; exit 1; }
  sleep 1  # settled: the load's temporaries are freed
  local peak settled
  peak=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status")
  settled=$(awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status")
  kill "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=
  echo "$((t1 - t0)) $peak $settled"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -a base new_ms new_peak new_rss old_ms old_peak old_rss
for round in $(seq 1 "$rounds"); do
  base+=("$(baseline_once)")
  read -r ms peak rss < <(daemon_once "$build/queuecastd")
  new_ms+=("$ms"); new_peak+=("$peak"); new_rss+=("$rss")
  if [ -n "$old_daemon" ]; then
    read -r ms peak rss < <(daemon_once "$old_daemon")
    old_ms+=("$ms"); old_peak+=("$peak"); old_rss+=("$rss")
  fi
  echo "round $round: baseline ${base[-1]} ms, queuecastd ${new_ms[-1]} ms" >&2
done

m() { printf '%s\n' "$@" | median; }
b=$(m "${base[@]}")
section="$tmp/section.md"
{
  echo "## Startup on a large database"
  echo
  echo "Measured $(date +%F) on $(hostname) ($(nproc) cores) by \`bench/startup_bench.sh $rounds${old_daemon:+ OLD}\`:"
  echo "$total phases in $queues queues, $workflows workflows. Time from process start to the first"
  echo "\`/readyz\` 200, median of $rounds rounds; peak (VmHWM) and settled (VmRSS, 1 s later) resident"
  echo "memory. The baseline is PostgreSQL alone building every queue's snapshot in one query"
  echo "(psql, result discarded) in the same rounds."
  echo
  echo "| what | ready in ms | × baseline | peak RSS MiB | settled RSS MiB |"
  echo "|---|---|---|---|---|"
  echo "| baseline: SQL snapshot of every queue | $b | 1.00 | | |"
  row() {
    local label="$1" ms="$2" peak="$3" rss="$4"
    awk -v l="$label" -v ms="$ms" -v b="$b" -v p="$peak" -v r="$rss" \
      'BEGIN { printf "| %s | %d | %.2f | %.0f | %.0f |\n", l, ms, ms / b, p / 1024, r / 1024 }'
  }
  row "queuecastd (this build)" "$(m "${new_ms[@]}")" "$(m "${new_peak[@]}")" "$(m "${new_rss[@]}")"
  if [ -n "$old_daemon" ]; then
    row "queuecastd given as OLD" "$(m "${old_ms[@]}")" "$(m "${old_peak[@]}")" "$(m "${old_rss[@]}")"
  fi
} >"$section"
cat "$section"
python3 "$here/write_results.py" markdown startup <"$section"
