#!/usr/bin/env bash
# What authentication costs on the fan-out path: the same load (bench/
# ws_loadgen: N snapshot-mode clients on one queue, R commits/s) against one
# queuecastd without credentials and one with JWTs (HS256 from a secret file),
# whose clients present a token in the upgrade. The token is verified once
# per connection; the bench shows whether anything else moved. Rounds
# alternate between the two daemons; medians of the rounds. Loopback only;
# every run is bounded by `timeout`.
#
# Usage: bench/auth_cost.sh [rate] [seconds] [rounds] [clients] [phases in the queue]
# Prints a Markdown table and writes the "auth" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
rate="${1:-100}"
seconds="${2:-10}"
rounds="${3:-3}"
client_counts="${4:-1 1000}"
phases="${5:-50}"  # a realistic queue: each snapshot carries every phase
build="${QUEUECAST_BUILD:-$root/build}"
# The load generator is not built by `make`: build it here.
cmake --build "$build" --target ws_loadgen >/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-auth-cost.XXXXXX")"
daemon_pid=
stop_daemon() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  daemon_pid=
}
trap 'stop_daemon; pgcluster_stop; rm -rf "$tmp"' EXIT
pgcluster_start "$tmp/cluster" "synchronous_commit = off" >/dev/null
pgcluster_psql -d postgres -c "CREATE DATABASE auth_cost"
pgcluster_psql -d auth_cost -c "CREATE EXTENSION queuecast" \
  -c "SELECT queuecast.create_queue('bench')" \
  -c "SELECT queuecast.enqueue('bench', 'phase ' || g) FROM generate_series(1, $phases) g" >/dev/null

secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$secret" >"$tmp/secret"
# An HS256 token for queue:bench valid for an hour, signed with openssl.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
payload=$(printf '{"sub":"bench","topics":["queue:bench"],"exp":%s}' "$(($(date +%s) + 3600))" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
token="$header.$payload.$signature"

start_daemon() {  # auth|open
  local port=$1 kind=$2 args=()
  [ "$kind" = auth ] && args=(--jwt-secret-file "$tmp/secret")
  "$build/queuecastd" --database "dbname=auth_cost" --listen "127.0.0.1:$port" --log-level warn \
    "${args[@]}" 2>>"$tmp/daemon.log" &
  daemon_pid=$!
  local auth_header=()
  [ "$kind" = auth ] && auth_header=(-H "Authorization: Bearer $token")
  for _ in $(seq 100); do curl -sf "${auth_header[@]}" "127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "auth_cost: queuecastd did not become ready, see $tmp/daemon.log" >&2
  exit 1
}

: >"$tmp/lines"
for round in $(seq "$rounds"); do
  for kind in open auth; do
    port=$(_pgcluster_free_port)
    start_daemon "$port" "$kind"
    for clients in $client_counts; do
      token_env=""
      [ "$kind" = auth ] && token_env="$token"
      line="$(QUEUECAST_TOKEN="$token_env" timeout $((seconds + 60)) \
        "$build/ws_loadgen" "$port" "dbname=auth_cost" bench "$clients" "$rate" "$seconds")"
      echo "round=$round config=$kind $line" | tee -a "$tmp/lines"
    done
    stop_daemon
  done
done

section="$(python3 - "$tmp/lines" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    fields = dict(f.split("=", 1) for f in line.split())
    runs.setdefault((int(fields["clients"]), fields["config"]), []).append(fields)
med = lambda rows, k: statistics.median(float(r[k]) for r in rows)
print("| clients | daemon | connected | p50 | p99 | delivered msgs/s | p99 / p99 without auth |")
print("|---|---|---|---|---|---|---|")
for clients in sorted({c for c, _ in runs}):
    base = med(runs[(clients, "open")], "p99_us")
    for config in ("open", "auth"):
        rows = runs[(clients, config)]
        print(f"| {clients} | {'JWT (HS256) in the upgrade' if config == 'auth' else 'no credentials'} | "
              f"{med(rows, 'connected'):.0f} | {med(rows, 'p50_us') / 1000:.2f} ms | "
              f"{med(rows, 'p99_us') / 1000:.2f} ms | {med(rows, 'delivered_per_s'):.0f} | "
              f"{med(rows, 'p99_us') / base:.2f} |")
PY
)"
echo "$section"
printf '## Cost of authentication on the fan-out path (issue 9)\n\nMeasured %s on %s (%s cores) by `bench/auth_cost.sh %s %s %s "%s" %s`: %s commits/s for %s s per run, snapshot-mode clients on one queue of %s phases, rounds alternating between a daemon without credentials and one verifying an HS256 JWT per connection; medians of %s rounds.\n\n%s\n' \
  "$(date +%F)" "$(hostname)" "$(nproc)" "$rate" "$seconds" "$rounds" "$client_counts" "$phases" "$rate" "$seconds" "$phases" "$rounds" "$section" |
  python3 "$here/write_results.py" markdown auth
