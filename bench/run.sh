#!/usr/bin/env bash
# make bench: every benchmark that needs nothing but this checkout; each
# writes its section of bench/RESULTS.md. About two hours on 2 cores
# (the huge-page runs need root: they reserve huge pages for their run). The
# comparisons against an older build (doorbell_cost.sh, snapshot_cost.sh,
# startup_bench.sh, idle_memory.sh with labels, commit_lock_ab.sh) take
# that build as an argument and are run by hand.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/capture_bench.sh" 8 3 "4 16"
"$here/fanout_bench.sh" 100 10
# Issue 11: realistic message sizes, 1 000 and 10 000 clients, the limits.
QUEUECAST_SECTION=fanout-realistic-direct "$here/fanout_realistic.sh" "1000" "50" 50 10 \
  "qd-snapshot qd-compat qd-delta relay limit limit-delta" 200 5
QUEUECAST_SECTION=fanout-realistic-10k-direct "$here/fanout_realistic.sh" "10000" "50" 10 10 \
  "limit-delta qd-delta qd-delta-t1 limit-delta qd-delta qd-delta-t1" 0 5
"$here/idle_memory.sh"
"$here/deflate_cost.sh"
"$here/auth_cost.sh"
# Issue 12: commit scaling with fsync on, and the doorbell's latency.
"$here/commit_scaling.sh" 8 2 "1 4 16 64" 600
"$here/commit_lock_spin.sh" 16 6 3
"$here/capture_instructions.sh" 2500
"$here/commit_cpu_profile.sh" 8 2 "4 16"
# The same with huge pages (reserved for the run, as root), and the two page
# sizes side by side.
QUEUECAST_HUGE_PAGES=on "$here/commit_scaling.sh" 8 2 "1 4 16 64" 600
# Issue 12's targets judged run after run (three runs, about 35 minutes).
QUEUECAST_HUGE_PAGES=on "$here/commit_scaling_repeat.sh" 3 8 3 "4 16" 600
QUEUECAST_HUGE_PAGES=on "$here/commit_cpu_profile.sh" 8 2 "4 16"
"$here/huge_pages_ab.sh" "4 16" 6 2
# What the page size costs capture in CPU, context switches and page faults.
"$here/page_size_cost.sh" 16 8 2
# Issue 13: the charts on a long history, the dashboard in Chromium, and
# Server-Sent Events against WebSocket at 1 000 and 10 000 clients.
"$here/stats_history.sh" "1000000 10000000" 10
QUEUECAST_SECTION=fanout-sse "$here/fanout_realistic.sh" "1000 10000" "50" 50 10 \
  "qd-snapshot qd-sse-snapshot qd-delta qd-sse-delta" 200 5
"$here/browser_dashboard.sh" 60 500
