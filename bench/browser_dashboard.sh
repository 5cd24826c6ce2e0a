#!/usr/bin/env bash
# The dashboard's targets (issue 13, from ORIGIN.md) measured in Debian
# Chromium: a queue of 500 phases, 50 updates a second for SECONDS, each a
# commit of its own (pgbench -R 50) that renames a random phase to
# "u <commit time in ms>". bench/browser_dashboard.mjs reads frame times,
# long tasks, the JS heap after a forced GC (at 1 000 events and at the end),
# the commit-to-screen latency of every renamed phase and the gzipped size of
# what the page downloads. Loopback only; bounded by timeout.
#
# Usage: bench/browser_dashboard.sh [seconds] [phases]
# Writes the section `browser-dashboard` of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"
source "$here/daemon_lib.sh"
seconds="${1:-60}"
phases="${2:-500}"
build="${QUEUECAST_BUILD:-$root/build}"
(cd "$root/tests/web" && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error; })
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-browser.XXXXXX")"
trap 'bench_stop_daemon; pgcluster_stop; rm -rf "$tmp"' EXIT
pgcluster_start "$tmp/cluster" "synchronous_commit = off" >/dev/null
bench_phases_db browser "$phases" >/dev/null
# A realistic mix of statuses.
pgcluster_psql -d browser -c "UPDATE queuecast.phases SET status = (ARRAY['queued','running','completed','failed','completed'])[1 + id % 5], worker = 'worker-' || (id % 8), attempts = 1 WHERE id % 5 <> 0" >/dev/null
bench_start_daemon browser
port=$daemon_port
cat >"$tmp/rename.sql" <<SQL
\\set id random(1, $phases)
UPDATE queuecast.phases SET title = 'u ' || floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint WHERE id = :id;
SQL
(cd "$root/tests/web" && timeout $((seconds + 180)) node "$here/browser_dashboard.mjs" "http://127.0.0.1:$port" bench-token "$seconds" \
  >"$tmp/result.json" 2>"$tmp/browser.log") &
browser_pid=$!
for _ in $(seq 600); do grep -q READY "$tmp/browser.log" 2>/dev/null && break; sleep 0.1; done
grep -q READY "$tmp/browser.log" || { cat "$tmp/browser.log" >&2; exit 1; }
timeout $((seconds + 30)) "$PG_BINDIR/pgbench" -n -c 1 -R 50 -T "$seconds" -f "$tmp/rename.sql" browser >"$tmp/pgbench.log" 2>&1
wait "$browser_pid" || { cat "$tmp/browser.log" >&2; exit 1; }
cat "$tmp/result.json"
section="$(python3 - "$tmp/result.json" "$seconds" "$phases" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); seconds, phases = sys.argv[2], sys.argv[3]
lat = r["ui_latency_ms"]
rows = [
  ("bundle (page, styles, scripts), gzipped", f"{r['bundle_gzip_bytes'] / 1024:.1f} KB", "< 50 KB"),
  ("frame interval p95 during the load (idle p95)", f"{r['frame_p95_ms']:.1f} ms ({r['idle_frame_p95_ms']:.1f} ms)", "< 16.7 ms"),
  ("frame interval p50 / p99 during the load", f"{r['frame_p50_ms']:.1f} / {r['frame_p99_ms']:.1f} ms", ""),
  ("main-thread tasks over 50 ms during the load", f"{r['long_tasks']}", "—"),
  ("JS heap after GC: at 1 000 events / at the end", f"{r['heap_mb_at_1000']:.1f} MB / {r['heap_mb_end']:.1f} MB", "< 50 MB, no growth"),
  ("commit to screen: p50 / p95 / max", f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['max']:.0f} ms ({lat['count']} renames seen)", "< 1 s"),
  ("updates received", f"{r['events']} for {r['rows']} rows", ""),
]
print("| measure | value | target |\n|---|---|---|")
for name, value, target in rows: print(f"| {name} | {value} | {target} |")
PY
)"
echo "$section"
printf '## The dashboard in a browser (issue 13)\n\nMeasured %s on %s (%s cores) by `bench/browser_dashboard.sh %s %s`: Debian Chromium (headless, playwright-core) showing a queue of %s phases while pgbench renames a random phase 50 times a second for %s s, one commit each; the browser, PostgreSQL, queuecastd and pgbench share the machine. Frame intervals are requestAnimationFrame deltas (60 Hz: 16.7 ms), the idle figure from the same page before the load; the heap is measured after a forced garbage collection; latency is from the commit'"'"'s clock_timestamp() to the new title in the DOM.\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$seconds" "$phases" "$phases" "$seconds" "$section" |
  python3 "$here/write_results.py" markdown browser-dashboard
