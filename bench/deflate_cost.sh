#!/usr/bin/env bash
# permessage-deflate's price and gain (issue 11): bytes on the wire per
# delivery and queuecastd's CPU, with and without the extension, in one run
# on one cluster. N clients of bench/fanout_client, all offering the
# extension as browsers do (FANOUT_CLIENT_DEFLATE=1), on one queue of P
# phases (~16 KB snapshots at 50), R single-row UPDATEs per second for D
# seconds; for each of snapshot and delta mode a fresh queuecastd with
# --permessage-deflate off (the offer declined) and one with it on. The
# rows alternate, off then on, ROUNDS times; the table gives each row and
# the median ratio of on over off.
#
# Usage: bench/deflate_cost.sh [CLIENTS] [PHASES] [RATE] [SECONDS] [ROUNDS]
#   defaults: 1000 50 50 10 1   (about two minutes per round)
#   FANOUT_CLIENT_DEFLATE=0: clients that do not offer the extension (a
#   control: then on and off must not differ).
# Writes the section `deflate` of bench/RESULTS.md. Loopback only; every
# process is bounded by `timeout`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
clients="${1:-1000}"
phases="${2:-50}"
rate="${3:-50}"
seconds="${4:-10}"
rounds="${5:-1}"
build="${QUEUECAST_BUILD:-$root/build}"

[ -x "$build/queuecastd" ] || { echo "no $build/queuecastd: build it first" >&2; exit 1; }
cmake --build "$build" --target help 2>/dev/null | grep -c fanout_client >/dev/null || cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j1 --target fanout_client >/dev/null
ulimit -n "$(ulimit -Hn)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-deflate.XXXXXX")"
source "$here/fanout_lib.sh"
bench_cluster deflate
# The phases of bench/fanout_realistic.sh (~320 bytes of JSON each, like a
# CI job's): the compression ratio is that of such documents.
pgcluster_psql -c "SELECT queuecast.create_queue('q')" -c "
  SELECT queuecast.enqueue('q', 'job ' || i || ' of pipeline ' || (i % 7),
    jsonb_build_object('repo', 'git.example.com/platform/service-' || (i % 13),
                       'commit', md5(i::text), 'runner', 'linux-x64-large',
                       'stage', 'integration-tests', 'shard', i % 8))
  FROM generate_series(1, $phases) AS i" >/dev/null

cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
metric() { curl -sf "127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }

# run MODE on|off: one line in $tmp/lines.
run() {
  local mode="$1" deflate="$2" budget=$((seconds * 3 + 200)) port line cpu0 cpu1 hwm status=ok
  port=$(_pgcluster_free_port)
  timeout "$((budget + 30))" "$build/queuecastd" --database "dbname=deflate" --listen "127.0.0.1:$port" \
    --log-level warn --permessage-deflate "$deflate" --max-clients "$(($(ulimit -n) - 1200))" \
    --max-connections-per-ip "$((clients + 100))" 2>>"$tmp/server.log" &
  server_pid=$!
  for _ in $(seq 150); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "127.0.0.1:$port/readyz" >/dev/null || { tail -5 "$tmp/server.log" >&2; exit 1; }
  proc_pid=$(cat "/proc/$server_pid/task/$server_pid/children")
  proc_pid="${proc_pid%% *}"
  cpu0=$(cpu_s "$proc_pid")
  local sent0 comp0
  sent0=$(metric "$port" queuecast_bytes_sent_total)
  comp0=$(metric "$port" queuecast_deflate_compressions_total)
  line="$(FANOUT_CLIENT_DEFLATE="${FANOUT_CLIENT_DEFLATE:-1}" timeout "$budget" "$build/fanout_client" "$port" /ws "$mode" "dbname=deflate" q \
    "$clients" "$rate" "$seconds" 15 2>>"$tmp/client.log")" || status="generator-exit-$?"
  if kill -0 "$proc_pid" 2>/dev/null; then
    cpu1=$(cpu_s "$proc_pid")
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$proc_pid/status")
    line="$line daemon_bytes_sent=$(($(metric "$port" queuecast_bytes_sent_total) - sent0))"
    line="$line compressions=$(($(metric "$port" queuecast_deflate_compressions_total) - comp0))"
    line="$line deflate_in=$(metric "$port" queuecast_deflate_bytes_in_total) deflate_out=$(metric "$port" queuecast_deflate_bytes_out_total)"
    line="$line publish_n=$(metric "$port" queuecast_commit_to_send_seconds_count) publish_lag_s=$(metric "$port" queuecast_commit_to_send_seconds_sum)"
  else
    cpu1=$cpu0 hwm=0 status=server-died
  fi
  stop_server
  line="mode=$mode deflate=$deflate status=$status server_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }') server_hwm_kb=$hwm $line"
  echo "$line" | tee -a "$tmp/lines" >&2
}

for _ in $(seq "$rounds"); do
  for mode in snapshot delta; do
    run "$mode" off
    run "$mode" on
  done
done

section_text="$(python3 - "$tmp/lines" "$clients" "$phases" "$rate" "$seconds" "$rounds" <<'PY'
import datetime, os, platform, statistics, sys
path, clients, phases, rate, seconds, rounds = sys.argv[1:7]
runs = [dict(kv.split("=", 1) for kv in line.split() if "=" in kv) for line in open(path)]
ok = [r for r in runs if "delivered" in r and r["status"] == "ok"]

def per_delivery(r):  # TCP payload per state delivered (receipt), frame headers included
    return float(r["wire_bytes_per_client"]) * int(r["clients"]) / max(1, int(r["delivered"]))

def cpu_us(r):  # daemon CPU per delivery
    return float(r["server_cpu_s"]) * 1e6 / max(1, int(r["delivered"]))

out = [
    f"## permessage-deflate: wire bytes and daemon CPU, {clients} clients, {phases} phases",
    "",
    f"Measured {datetime.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores) by "
    f"`bench/deflate_cost.sh {clients} {phases} {rate} {seconds} {rounds}`: {clients} clients of "
    "`bench/fanout_client` offering permessage-deflate (`FANOUT_CLIENT_DEFLATE=1`, inflating what comes "
    f"compressed) on one queue of {phases} phases, {rate} single-row `UPDATE`s per second for {seconds} s; "
    "queuecastd started fresh per row with `--permessage-deflate off` (offer declined) or `on`. "
    "*Bytes per delivery*: TCP payload the clients read after the upgrade (frame headers included) over "
    "the states they received (in snapshot mode conflation delivers fewer than clients x updates). "
    "*Daemon CPU*: utime+stime over the generator's run, connecting included. *Compressions*: "
    "`queuecast_deflate_compressions_total` over the run (once per frame, not per client; fewer frames than "
    "updates: the daemon publishes the commits it reads together as one). *compressed / text*: the daemon's "
    "`queuecast_deflate_bytes_out_total` over `_bytes_in_total`. *Fan-outs*: the daemon's publishes "
    "(`queuecast_commit_to_send_seconds_count`) and their mean commit-to-queued time. The phases are those "
    "of `bench/fanout_realistic.sh`, alike but for an md5 each: they compress better than most real queues. "
    "The machine is shared and busy: compare the on/off ratios of the same run, not absolute times.",
    "",
    "| mode | deflate | delivered / expected | bytes per delivery | wire per client | "
    "daemon CPU | CPU per delivery | compressions | compressed / text | fan-outs, mean commit → queued | "
    "p50 | p99 | daemon peak RSS | generator CPU | status |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]
def ratio(r):  # all the daemon compressed, the initial snapshots included
    text, out = float(r.get("deflate_in") or 0), float(r.get("deflate_out") or 0)
    return f"{out / text:.3f}" if text else "—"

def fanouts(r):  # the daemon's publishes and their commit-to-queued lag (its histogram)
    n = int(float(r.get("publish_n") or 0))
    return f"{n}, {float(r['publish_lag_s']) * 1000 / n:.1f} ms" if n else "—"

def ms(us):
    us = int(us)
    return f"{us / 1000:.1f} ms"
for r in runs:
    if "delivered" not in r:
        out.append(f"| {r['mode']} | {r['deflate']} | no result ({r['status']}) |" + " |" * 12)
        continue
    out.append(
        f"| {r['mode']} | {r['deflate']} | {int(r['delivered']):,} / {int(r['expected']):,} | "
        f"{per_delivery(r):,.0f} B | {float(r['wire_bytes_per_client']) / 1024:,.0f} KiB | {r['server_cpu_s']} s | "
        f"{cpu_us(r):.1f} µs | {r.get('compressions', '?')} | {ratio(r)} | {fanouts(r)} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | "
        f"{int(r['server_hwm_kb']) / 1024:.0f} MiB | {r['gen_cpu_s']} s | "
        f"{r['connected']}/{r['clients']} connected, {r['deflated']} deflate, final {r['final_ok']}, {r['status']} |")
out += ["", "Ratios on / off, same run (median over rounds):", "",
        "| mode | bytes per delivery | daemon CPU | daemon CPU per delivery | fan-outs | p50 | p99 |",
        "|---|---|---|---|---|---|---|"]
for mode in ("snapshot", "delta"):
    pairs = []
    offs = [r for r in ok if r["mode"] == mode and r["deflate"] == "off"]
    ons = [r for r in ok if r["mode"] == mode and r["deflate"] == "on"]
    for off, on in zip(offs, ons):
        pairs.append((per_delivery(on) / per_delivery(off),
                      float(on["server_cpu_s"]) / max(0.01, float(off["server_cpu_s"])),
                      cpu_us(on) / max(0.01, cpu_us(off)),
                      float(on.get("publish_n") or 0) / max(1.0, float(off.get("publish_n") or 0)),
                      int(on["p50_us"]) / max(1, int(off["p50_us"])),
                      int(on["p99_us"]) / max(1, int(off["p99_us"]))))
    if pairs:
        med = [statistics.median(p[i] for p in pairs) for i in range(6)]
        out.append(f"| {mode} | " + " | ".join(f"{m:.2f}" for m in med) + " |")
print("\n".join(out))
PY
)"
echo "$section_text"
echo "$section_text" | python3 "$here/write_results.py" markdown deflate
