#!/usr/bin/env bash
# make demo: a live queue in your browser.
#   - a throwaway PostgreSQL cluster with the extension (or your database:
#     QUEUECAST_DATABASE=postgresql://... make demo)
#   - a producer that creates workflows and jobs, workers that claim, run,
#     complete and sometimes fail them, and a supervisor that pauses and
#     resumes the queue now and then - all through the SQL API
#   - queuecastd on QUEUECAST_LISTEN (default 127.0.0.1:8080)
# On the throwaway cluster every part logs in as its own non-superuser role,
# set up as docs/security.md recommends: the producer as demo_app
# (queuecast_worker + queuecast_writer), the workers as demo_worker
# (queuecast_worker), the supervisor as demo_operator (queuecast_operator) and
# queuecastd as demo_dashboard (queuecast_reader). With QUEUECAST_DATABASE they
# all use the user of that URL.
# Ctrl-C stops everything and removes the throwaway cluster.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
source "$root/tests/harness/pgcluster.sh"
listen="${QUEUECAST_LISTEN:-127.0.0.1:8080}"
workers="${QUEUECAST_DEMO_WORKERS:-4}"
pids=()
tmp=

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pgcluster_stop
  [ -n "$tmp" ] && rm -rf "$tmp"
  exit 0
}
trap stop_all INT TERM EXIT

if [ -n "${QUEUECAST_DATABASE:-}" ]; then
  database="$QUEUECAST_DATABASE"
  export PGDATABASE="$database"
  psql() { command psql "$database" "$@"; }
  echo "demo: using $database"
else
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-demo.XXXXXX")"
  # Preloaded, as production should run it: the doorbell worker rings for
  # the writers (docs/capture.md, "The doorbell").
  pgcluster_start "$tmp/cluster" "shared_preload_libraries = 'queuecast'"
  command psql -X -q -d postgres -c "CREATE DATABASE demo"
  export PGDATABASE=demo
  database="host=$PGHOST port=$PGPORT user=$PGUSER dbname=demo"
  echo "demo: throwaway PostgreSQL on $PGHOST:$PGPORT (database demo)"
fi
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS queuecast" \
  -c "SELECT queuecast.create_queue('default', 'the demo queue')" >/dev/null

actions=()  # with QUEUECAST_DATABASE: QUEUECAST_ACTIONS_DATABASE, if set, enables actions
if [ -n "$tmp" ]; then
  command psql -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE demo_app LOGIN IN ROLE queuecast_worker, queuecast_writer" \
    -c "CREATE ROLE demo_worker LOGIN IN ROLE queuecast_worker" \
    -c "CREATE ROLE demo_operator LOGIN IN ROLE queuecast_operator" \
    -c "CREATE ROLE demo_dashboard LOGIN IN ROLE queuecast_reader"
  as_role() {
    local role="$1"
    shift
    PGUSER="$role" "$@"
  }
  database="host=$PGHOST port=$PGPORT user=demo_dashboard dbname=demo"
  # The dashboard's Pause/Retry/Cancel run as the operator role, not the reader.
  actions=(--actions-database "host=$PGHOST port=$PGPORT user=demo_operator dbname=demo")
  echo "demo: producer, workers, supervisor and queuecastd log in as non-superuser roles"
else
  as_role() {
    shift
    "$@"
  }
fi

as_role demo_app "$here/producer.sh" & pids+=($!)
for n in $(seq "$workers"); do as_role demo_worker "$here/worker.sh" "worker-$n" & pids+=($!); done
as_role demo_operator "$here/supervisor.sh" & pids+=($!)

# Auth is on, as in production: a random static token in a file only we can
# read (docs/security.md has signed, expiring JWTs with per-topic grants).
token_dir="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-demo-token.XXXXXX")"
token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$token" >"$token_dir/token"
chmod 600 "$token_dir/token"
"$root/build/queuecastd" --database "$database" --listen "$listen" --token-file "$token_dir/token" \
  "${actions[@]}" &
pids+=($!)
for _ in $(seq 50); do
  curl -sf -H "Authorization: Bearer $token" "http://$listen/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
rm -rf "$token_dir"
echo
echo "  queuecast demo is live:  http://$listen/#token=$token"
echo "  snapshot as JSON:        curl -H 'Authorization: Bearer $token' http://$listen/api/v1/queues/default"
echo "  Ctrl-C stops everything."
echo
wait "${pids[-1]}"
