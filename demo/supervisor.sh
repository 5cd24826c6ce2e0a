#!/usr/bin/env bash
# Demo supervisor: pauses the queue for a few seconds now and then; every
# open dashboard shows it at once.
set -uo pipefail
while true; do
  sleep $((20 + RANDOM % 20))
  psql -X -q -c "SELECT queuecast.pause('default')" >/dev/null
  sleep 6
  psql -X -q -c "SELECT queuecast.resume('default')" >/dev/null
done
