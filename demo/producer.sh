#!/usr/bin/env bash
# Demo producer: new workflows and single jobs every few seconds; finished
# work older than two minutes is deleted so the queue stays readable.
set -uo pipefail
names=(build test lint package deploy verify migrate index render notify)
while true; do
  if [ $((RANDOM % 3)) -eq 0 ]; then
    psql -X -q -c "SELECT queuecast.enqueue('default', 'job ${names[RANDOM % 10]} #$RANDOM', '{}', $((RANDOM % 3)))" >/dev/null
  else
    phases="ARRAY['${names[RANDOM % 10]}', '${names[RANDOM % 10]}', '${names[RANDOM % 10]}']"
    psql -X -q -c "SELECT queuecast.create_workflow('default', 'release $((RANDOM % 900 + 100))', $phases)" >/dev/null
  fi
  psql -X -q -c "DELETE FROM queuecast.workflows WHERE status IN ('completed', 'cancelled') AND finished_at < now() - interval '2 minutes';
                 DELETE FROM queuecast.phases WHERE workflow_id IS NULL AND status IN ('completed', 'cancelled') AND finished_at < now() - interval '2 minutes'" >/dev/null
  sleep $((2 + RANDOM % 3))
done
