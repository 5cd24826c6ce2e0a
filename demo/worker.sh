#!/usr/bin/env bash
# Demo worker: claim, "work" 1-5 s, complete (or fail one time in eight, and
# retry failed phases that still have attempts left).
set -uo pipefail
name="$1"
while true; do
  id="$(psql -X -q -At -c "SELECT id FROM queuecast.claim('default', '$name')" 2>/dev/null)"
  if [ -z "$id" ]; then
    sleep 1
    continue
  fi
  sleep $((1 + RANDOM % 5))
  if [ $((RANDOM % 8)) -eq 0 ]; then
    psql -X -q -c "SELECT queuecast.fail($id, 'simulated failure')" >/dev/null 2>&1
    sleep 2
    psql -X -q -c "SELECT queuecast.retry($id)" >/dev/null 2>&1
  else
    psql -X -q -c "SELECT queuecast.complete($id)" >/dev/null 2>&1
  fi
done
