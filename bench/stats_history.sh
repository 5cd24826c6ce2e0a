#!/usr/bin/env bash
# How fast the dashboard's charts answer on a long history (issue 13: "a
# history of 10 million rows answers in well under a second"). For each
# history size: queuecast.changes is filled with that many rows spread over
# 7 days (committed_at ascending with seq, as the capture writes it; a tenth
# of them on the benchmarked queue), then GET /api/v1/queues/bench/stats is
# timed end to end through queuecastd, and the same statement is timed in
# PostgreSQL (EXPLAIN ANALYZE) against a baseline that finds the window with
# a plain `committed_at >= now() - 1 hour` filter (no index on the history,
# so a scan of the whole table). A phase's detail (GET /api/v1/phases/<id>,
# queuecast.phase_timeline()) is timed the same way on a phase enqueued,
# claimed and completed after the history was filled, against the
# timeline's first version, which filtered the whole history on
# (entity, key). Loopback only; every step is bounded.
#
# Usage: bench/stats_history.sh ["1000000 10000000"] [requests per size]
# Writes the section `stats-history` of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/daemon_lib.sh"
sizes="${1:-1000000 10000000}"
requests="${2:-10}"
build="${QUEUECAST_BUILD:-$root/build}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-stats.XXXXXX")"
trap 'bench_stop_daemon; pgcluster_stop; rm -rf "$tmp"' EXIT
pgcluster_start "$tmp/cluster" "fsync = off" "synchronous_commit = off" "max_wal_size = 8GB" \
  "shared_buffers = 256MB" >/dev/null

# The statement the daemon runs, and the baseline: the same with the window
# found by a filter on committed_at instead of the binary search.
python3 - "$root/daemon/pg/queue_stats_sql.hpp" "$tmp" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sql = re.search(r'R"\((.*)\)"', text, re.S).group(1)
naive = sql.replace("c.seq BETWEEN (SELECT lo FROM first_seq) AND (SELECT max(seq) FROM queuecast.changes)",
                    "c.committed_at >= (SELECT since FROM bounds)")
assert naive != sql
open(sys.argv[2] + "/ours.sql", "w").write(sql)
open(sys.argv[2] + "/naive.sql", "w").write(naive)
PY

rows_out=()
for size in $sizes; do
  db="stats_$size"
  pgcluster_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
  pgcluster_psql -d "$db" -c "CREATE EXTENSION queuecast" -c "SELECT queuecast.create_queue('bench')" >/dev/null
  started=$(date +%s)
  timeout 1800 psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
INSERT INTO queuecast.changes (seq, topic, entity, key, op, old_status, new_status, data, txid,
                               committed_at, role_name)
SELECT g + 100, CASE WHEN g % 10 = 0 THEN 'queue:bench' ELSE 'queue:other' || (g % 7) END, 'phase',
       (g / 40)::text, 'UPDATE',
       (ARRAY['queued','running','running','queued'])[1 + g % 4],
       (ARRAY['running','completed','failed','queued'])[1 + g % 4],
       '{"id":1}', pg_current_xact_id(),
       now() - interval '7 days' + (g::float8 / $size) * interval '7 days', 'bench'
  FROM generate_series(1, $size) g;
SELECT setval('queuecast.changes_seq', $size + 100);
VACUUM ANALYZE queuecast.changes;
SQL
  load_s=$(($(date +%s) - started))
  # In PostgreSQL: the statement's own execution time, median of 5.
  exec_ms() {
    for _ in 1 2 3 4 5; do
      { printf 'PREPARE s(text, int, text) AS\n'; cat "$1"; printf ';\nEXPLAIN (ANALYZE, FORMAT JSON) EXECUTE s('"'"'bench'"'"', 60, '"'"'queue:bench'"'"');\n'; } |
        timeout 600 psql -X -q -At -d "$db" | python3 -c "import json,sys; print(json.loads(sys.stdin.read())[0]['Execution Time'])"
    done | sort -n | sed -n 3p
  }
  ours_ms=$(exec_ms "$tmp/ours.sql")
  naive_ms=$(exec_ms "$tmp/naive.sql")
  # A phase's detail: a phase with a short life at the end of the history.
  phase=$(psql -X -q -At -d "$db" -c "SELECT queuecast.enqueue('bench', 'detail')")
  psql -X -q -d "$db" -c "SELECT queuecast.claim('bench', 'bench-worker')" -c "SELECT queuecast.complete($phase)" >/dev/null
  median_ms() {  # SQL: median of 5 EXPLAIN ANALYZE execution times
    for _ in 1 2 3 4 5; do
      timeout 600 psql -X -q -At -d "$db" -c "EXPLAIN (ANALYZE, FORMAT JSON) $1" |
        python3 -c "import json,sys; print(json.loads(sys.stdin.read())[0]['Execution Time'])"
    done | sort -n | sed -n 3p
  }
  detail_ms=$(median_ms "SELECT * FROM queuecast.phase_timeline($phase)")
  detail_naive_ms=$(median_ms "SELECT c.seq, c.new_status, c.committed_at, lead(c.committed_at) OVER w
    FROM queuecast.changes c WHERE c.entity = 'phase' AND c.key = '$phase'
     AND c.new_status IS NOT NULL AND c.new_status IS DISTINCT FROM c.old_status
    WINDOW w AS (ORDER BY c.seq) ORDER BY c.seq")
  window_rows=$(psql -X -At -d "$db" -c "SELECT count(*) FROM queuecast.changes WHERE committed_at > now() - interval '1 hour'")
  # End to end through the daemon: HTTP, the sql_service connection, JSON.
  bench_start_daemon "$db"
  port=$daemon_port
  # The daemon keeps an answer 2 s (net/stats_cache.hpp): the first request
  # computes it, and the median of the rest, 2.1 s apart, computes each again.
  stats_get() {
    curl -s -o /dev/null -m 30 -w '%{time_total}\n' -H 'Authorization: Bearer bench-token' \
      "http://127.0.0.1:$port/api/v1/queues/bench/stats?minutes=60"
  }
  http_first=$(stats_get | awk '{print $1 * 1000}')
  http_times=$(for _ in $(seq "$requests"); do sleep 2.1; stats_get; done | sort -n)
  http_p50=$(echo "$http_times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] * 1000}')
  http_max=$(echo "$http_times" | tail -1 | awk '{print $1 * 1000}')
  detail_http_p50=$(for _ in $(seq "$requests"); do
    curl -s -o /dev/null -m 30 -w '%{time_total}\n' -H 'Authorization: Bearer bench-token' \
      "http://127.0.0.1:$port/api/v1/phases/$phase"
  done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] * 1000}')
  bench_stop_daemon
  rows_out+=("$size $window_rows $load_s $ours_ms $naive_ms $http_p50 $http_max $detail_ms $detail_naive_ms $detail_http_p50 $http_first")
  pgcluster_psql -d postgres -c "DROP DATABASE $db" >/dev/null
done

section="$(python3 - "${rows_out[@]}" <<'PY'
import sys
print("| history rows | rows in the last hour | stats statement (binary search) | baseline (committed_at filter) | statement / baseline | GET /stats through queuecastd: first, median, max (uncached) |")
print("|---|---|---|---|---|---|")
for row in sys.argv[1:]:
    size, window, load_s, ours, naive, http50, httpmax, *_, first = row.split()
    print(f"| {int(size):,} | {int(window):,} | {float(ours):.1f} ms | {float(naive):.0f} ms | {float(ours)/float(naive):.3f} | {float(first):.1f} / {float(http50):.1f} / {float(httpmax):.1f} ms |".replace(",", " "))
print()
print("A phase's detail at the end of the history: `queuecast.phase_timeline(id)` (binary search from the phase's creation) against the first version's filter on (entity, key) over the whole history, and `GET /api/v1/phases/<id>` through queuecastd.")
print()
print("| history rows | phase_timeline() | baseline (whole-history filter) | timeline / baseline | GET /api/v1/phases/<id>, median |")
print("|---|---|---|---|---|")
for row in sys.argv[1:]:
    size, *_, detail, detail_naive, detail_http, _first = row.split()
    print(f"| {int(size):,} | {float(detail):.2f} ms | {float(detail_naive):.0f} ms | {float(detail)/float(detail_naive):.4f} | {float(detail_http):.1f} ms |".replace(",", " "))
PY
)"
echo "$section"
printf '## Charts on a long history (issue 13)\n\nMeasured %s on %s (%s cores) by `bench/stats_history.sh "%s" %s`: `queuecast.changes` filled with the given number of rows over 7 days (a tenth on the benchmarked queue), then the statement behind `GET /api/v1/queues/<q>/stats?minutes=60` timed in PostgreSQL (EXPLAIN ANALYZE, median of 5) against the same statement finding the window with a `committed_at` filter, and the endpoint timed end to end through queuecastd (the first request, then %s more 2.1 s apart, past the 2 s the daemon keeps an answer). The history has no index but its primary key: the window is found by a binary search over seq, since committed_at never decreases along it.\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$sizes" "$requests" "$requests" "$section" |
  python3 "$here/write_results.py" markdown stats-history
