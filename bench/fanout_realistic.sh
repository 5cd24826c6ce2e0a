#!/usr/bin/env bash
# Fan-out that looks like production (issue 11): N WebSocket clients on one
# queue of 50 (or 500) phases, so every snapshot is ~16 KB (~160 KB), R
# single-row UPDATEs per second for D seconds, latency from just before the
# UPDATE to each client's receipt (bench/fanout_client). In the same run, on
# the same cluster and the same clients:
#   qd-compat    queuecastd, /api/v1/ws/queue?queue=Q (no subscribe)
#   qd-snapshot  queuecastd, /ws, subscribe in snapshot mode
#   qd-delta     queuecastd, /ws, subscribe in delta mode
#   qd-sse-snapshot, qd-sse-delta  queuecastd, /sse?topic=queue:Q&mode=...
#                (Server-Sent Events, the transport that passes every proxy)
#   qd-*-tN      the same with --threads N (qd-snapshot-t1: one thread for
#                every connection; without a suffix: one per core)
#   relay        bench/baseline_relay: Node, pg + ws, trigger -> NOTIFY ->
#                snapshot -> send to all (what teams write by hand)
#   limit        bench/limit_writer: epoll, the same bytes to every client,
#                one write per client (the machine's limit)
#   limit-delta  the same writing a delta-sized message (the marker phase
#                as one upsert) per commit: the limit for delta mode
# Each server is started fresh for each row; its CPU time (utime+stime from
# /proc/PID/stat) over the generator's run and its peak RSS (VmHWM) are
# recorded. Then a saturation run (rate SAT_RATE, conflating servers only)
# gives deliveries per second against the limit writer's.
#
# Usage: bench/fanout_realistic.sh [CLIENTS_LIST] [PHASES_LIST] [RATE] [SECONDS] [SERVERS] [SAT_RATE] [SAT_SECONDS]
#   defaults: "1000" "50 500" 50 10 "qd-compat qd-snapshot qd-delta relay limit" 200 5
#   SAT_RATE 0 skips the saturation run. QUEUECAST_SECTION names the
#   RESULTS.md section (default fanout-realistic). FANOUT_CLIENT_PARSE=1:
#   the clients parse every message (bench/fanout_client.cpp).
# Quick run: bench/fanout_realistic.sh 1000 50 50 10   (a few minutes)
# Loopback only; every process is bounded by `timeout` or a deadline.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
client_counts="${1:-1000}"
phase_counts="${2:-50 500}"
rate="${3:-50}"
seconds="${4:-10}"
servers="${5:-qd-compat qd-snapshot qd-delta relay limit}"
sat_rate="${6:-200}"
sat_seconds="${7:-5}"
section="${QUEUECAST_SECTION:-fanout-realistic}"
build="${QUEUECAST_BUILD:-$root/build}"
rss_cap_kb=$((4 * 1024 * 1024))  # a server above 4 GiB resident is killed (a runaway relay)

[ -x "$build/queuecastd" ] || { echo "no $build/queuecastd: build it first" >&2; exit 1; }
# The generator and the limit writer are not built by `make`: build them here.
# A build tree configured before they were added does not know them yet.
cmake --build "$build" --target help 2>/dev/null | grep -c fanout_client >/dev/null || cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j1 --target fanout_client limit_writer >/dev/null
relay_dir="$here/baseline_relay"
if [ ! -d "$relay_dir/node_modules" ]; then
  (cd "$relay_dir" && timeout 300 npm ci --no-audit --no-fund >/dev/null)
fi
# One socket per client on both sides: the hard limit (20 000 here; it cannot be raised).
ulimit -n "$(ulimit -Hn)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-realistic.XXXXXX")"
source "$here/fanout_lib.sh"
bench_cluster fanout
# Queues q50, q500...: phases with a payload like a CI job's (~320 bytes of
# JSON per phase in a snapshot). The first phase (lowest id) is the marker
# the generator's UPDATEs write to.
for phases in $phase_counts; do
  pgcluster_psql -c "SELECT queuecast.create_queue('q$phases')" -c "
    SELECT queuecast.enqueue('q$phases', 'job ' || i || ' of pipeline ' || (i % 7),
      jsonb_build_object('repo', 'git.example.com/platform/service-' || (i % 13),
                         'commit', md5(i::text), 'runner', 'linux-x64-large',
                         'stage', 'integration-tests', 'shard', i % 8))
    FROM generate_series(1, $phases) AS i" >/dev/null
done

# CPU seconds (utime+stime) of a process.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# Kills the server if it grows beyond the cap, and says so.
start_watchdog() {
  (
    while kill -0 "$proc_pid" 2>/dev/null; do
      rss=$(awk '/VmRSS/ { print $2 }' "/proc/$proc_pid/status" 2>/dev/null || echo 0)
      if [ "${rss:-0}" -gt "$rss_cap_kb" ]; then
        echo "watchdog: server above $((rss_cap_kb / 1024)) MiB resident, killed" >&2
        echo killed >"$tmp/watchdog"
        kill -9 "$proc_pid"
        exit 0
      fi
      sleep 0.2
    done
  ) &
  watchdog_pid=$!
}

wait_for_port() {  # port logfile
  for _ in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start:" >&2
  tail -5 "$2" >&2
  exit 1
}

# start_server SERVER QUEUE CLIENTS MAX_SECONDS: sets port, path, mode, server_pid.
start_server() {
  local server="$1" queue="$2" clients="$3" max_seconds="$4"
  port=$(_pgcluster_free_port)
  rm -f "$tmp/watchdog"
  local threads=()
  case "$server" in qd-*-t[0-9]*) threads=(--threads "${server##*-t}") ;; esac
  case "$server" in
    qd-*)
      timeout "$max_seconds" "$build/queuecastd" --database "dbname=fanout" --listen "127.0.0.1:$port" \
        --log-level warn --max-clients "$(($(ulimit -n) - 1200))" \
        --max-connections-per-ip "$((clients + 100))" "${threads[@]}" 2>>"$tmp/server.log" &
      server_pid=$!
      for _ in $(seq 150); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
      curl -sf "127.0.0.1:$port/readyz" >/dev/null || { tail -5 "$tmp/server.log" >&2; exit 1; }
      case "${server%-t[0-9]*}" in
        qd-compat) path="/api/v1/ws/queue?queue=$queue" mode=none ;;
        qd-snapshot) path=/ws mode=snapshot ;;
        qd-delta) path=/ws mode=delta ;;
        qd-sse-snapshot) path="/sse?topic=queue:$queue&mode=snapshot" mode=none ;;
        qd-sse-delta) path="/sse?topic=queue:$queue&mode=delta" mode=none ;;
      esac
      ;;
    relay)
      drop_trigger
      pgcluster_psql -f "$relay_dir/trigger.sql"
      timeout "$max_seconds" node "$relay_dir/relay.js" "$port" "$max_seconds" >>"$tmp/server.log" 2>&1 &
      server_pid=$!
      wait_for_port "$port" "$tmp/server.log"
      path="/?queue=$queue" mode=none
      ;;
    limit | limit-delta)
      drop_trigger
      pgcluster_psql -f "$relay_dir/trigger.sql"
      timeout "$max_seconds" "$build/limit_writer" "$port" "dbname=fanout" "$queue" queue_changed \
        "$max_seconds" "${server#limit-}" >>"$tmp/server.log" 2>&1 &
      server_pid=$!
      wait_for_port "$port" "$tmp/server.log"
      path="/?queue=$queue" mode=none
      ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  proc_pid=$(cat "/proc/$server_pid/task/$server_pid/children")
  proc_pid="${proc_pid%% *}"
  start_watchdog
}

# The doorbell trigger exists only while the relay or the limit writer runs,
# so queuecastd's UPDATEs do not pay for it.
drop_trigger() {
  pgcluster_psql -c "DROP TRIGGER IF EXISTS relay_notify ON queuecast.phases" \
    -c "DROP FUNCTION IF EXISTS public.relay_notify()" 2>/dev/null
}

# run KIND SERVER CLIENTS PHASES RATE SECONDS: one row in $tmp/lines.
run() {
  local kind="$1" server="$2" clients="$3" phases="$4" r="$5" s="$6"
  local budget=$((s * 3 + 200)) line cpu0 cpu1 hwm status=ok
  start_server "$server" "q$phases" "$clients" "$((budget + 30))"
  cpu0=$(cpu_s "$proc_pid")
  line="$(timeout "$budget" "$build/fanout_client" "$port" "$path" "$mode" "dbname=fanout" "q$phases" \
    "$clients" "$r" "$s" 15 2>>"$tmp/client.log")" || status="generator-exit-$?"
  if kill -0 "$proc_pid" 2>/dev/null; then
    cpu1=$(cpu_s "$proc_pid")
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$proc_pid/status")
  else
    cpu1=$cpu0 hwm=0 status=server-died
  fi
  [ -f "$tmp/watchdog" ] && status=killed-above-4GiB
  stop_server
  case "$server" in relay | limit*) drop_trigger ;; esac
  [ -n "$line" ] || line="clients=$clients"
  line="kind=$kind server=$server phases=$phases status=$status server_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }') server_hwm_kb=$hwm $line"
  echo "$line" | tee -a "$tmp/lines" >&2
}

for clients in $client_counts; do
  for phases in $phase_counts; do
    for server in $servers; do
      run latency "$server" "$clients" "$phases" "$rate" "$seconds"
    done
  done
done
# Saturation: the commit rate beyond what fan-out can deliver, first client
# count and phase count; conflating servers only (the relay buffers without
# bound and delta mode closes a client that falls behind, by design).
sat_clients="${client_counts%% *}"
sat_phases="${phase_counts%% *}"
if [ "$sat_rate" -gt 0 ]; then
  for server in $servers; do
    case "$server" in qd-compat | qd-snapshot | qd-sse-snapshot | qd-compat-t* | qd-snapshot-t* | limit) ;; *) continue ;; esac
    run saturation "$server" "$sat_clients" "$sat_phases" "$sat_rate" "$sat_seconds"
  done
fi

section_text="$(python3 "$here/fanout_realistic_table.py" "$tmp/lines" "$client_counts" "$phase_counts" \
  "$rate" "$seconds" "$servers" "$sat_rate" "$sat_seconds")"
echo "$section_text"
echo "$section_text" | python3 "$here/write_results.py" markdown "$section"
