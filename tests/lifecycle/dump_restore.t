#!/usr/bin/env bash
# pg_dump and restore (plain and custom format) of a database using queuecast
# into a fresh cluster, as docs/security.md tells operators to do it: data and
# history come back identical, seq continues after the restored maximum, the
# next commit is captured exactly once, and queuecastd serves the result.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../security/tap.sh"
: "${SOURCE_PGPORT:?run through tests/lifecycle/run.sh}" "${TARGET_PGPORT:?}" "${LIFECYCLE_TMP:?}"
src=queuecast_dump_source
on() { # PORT DB SQL...
  local port="$1" db="$2"
  shift 2
  PGPORT="$port" sql_as postgres "$db" "$@"
}
fingerprint() { on "$1" "$2" "$(cat "$here/fingerprint.sql")"; }

on "$SOURCE_PGPORT" postgres "DROP DATABASE IF EXISTS $src" "CREATE DATABASE $src" >/dev/null
on "$SOURCE_PGPORT" "$src" "CREATE EXTENSION queuecast" >/dev/null
PGPORT="$SOURCE_PGPORT" psql -X -q -v ON_ERROR_STOP=1 -d "$src" -f "$here/fill.sql" >/dev/null
before=$(fingerprint "$SOURCE_PGPORT" "$src")
max_seq=$(on "$SOURCE_PGPORT" "$src" "SELECT queuecast.current_seq()")
tap_like "$(on "$SOURCE_PGPORT" "$src" "SELECT queuecast.resumable_from()")" '^[1-9][0-9]*$' \
  "the source has pruned history (resumable_from > 0)"

PGPORT="$SOURCE_PGPORT" pg_dump -Fp -d "$src" -f "$LIFECYCLE_TMP/plain.sql"
tap_ok $? "pg_dump in plain format"
PGPORT="$SOURCE_PGPORT" pg_dump -Fc -d "$src" -f "$LIFECYCLE_TMP/custom.dump"
tap_ok $? "pg_dump in custom format"

# The restore as documented: capture triggers must not fire while restored
# rows are loaded (they are history already); session_replication_role =
# replica keeps them off for the restoring session only.
restore=(env PGPORT="$TARGET_PGPORT" PGOPTIONS="-c session_replication_role=replica -c client_min_messages=warning")
on "$TARGET_PGPORT" postgres "CREATE DATABASE restored_plain" "CREATE DATABASE restored_custom" >/dev/null
out=$("${restore[@]}" psql -X -q -v ON_ERROR_STOP=1 -d restored_plain -f "$LIFECYCLE_TMP/plain.sql" 2>&1)
tap_ok $? "plain dump restores with psql" "$out"
out=$("${restore[@]}" pg_restore --exit-on-error -d restored_custom "$LIFECYCLE_TMP/custom.dump" 2>&1)
tap_ok $? "custom dump restores with pg_restore" "$out"

for db in restored_plain restored_custom; do
  tap_is "$(fingerprint "$TARGET_PGPORT" "$db")" "$before" \
    "$db: tables, history, retention and sequences identical to the source"
  tap_is "$(on "$TARGET_PGPORT" "$db" "SELECT count(*) FROM queuecast.capture_status() WHERE capture_enabled")" \
    "3" "$db: capture is on for every table"
  tap_is "$(on "$TARGET_PGPORT" "$db" "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'queuecast\_%'")" \
    "4" "$db: the group roles exist in the new cluster"
  id=$(on "$TARGET_PGPORT" "$db" "SELECT queuecast.enqueue('life', 'after restore')")
  tap_like "$id" '^[0-9]+$' "$db: enqueue works (new id $id)"
  tap_is "$(on "$TARGET_PGPORT" "$db" "SELECT count(*) FROM queuecast.phases WHERE id = $id")" "1" \
    "$db: the new phase's id was free"
  tap_is "$(on "$TARGET_PGPORT" "$db" "SELECT string_agg(seq || ' ' || op || ' ' || key, ',') FROM queuecast.changes WHERE seq > $max_seq")" \
    "$((max_seq + 1)) INSERT $id" "$db: the next commit is captured exactly once, right after the restored maximum"
done

# A restore without the setting would capture every restored row again: it
# must fail loudly, saying what to do, not pass with a rewritten history.
on "$TARGET_PGPORT" postgres "CREATE DATABASE restored_carelessly" >/dev/null
out=$(PGPORT="$TARGET_PGPORT" pg_restore -d restored_carelessly "$LIFECYCLE_TMP/custom.dump" 2>&1)
tap_ok $((! $?)) "a restore without session_replication_role = replica exits with an error"
tap_like "$out" "session_replication_role = replica" "... that says how to restore"

# queuecastd serves the restored database.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$QUEUECASTD" --database "host=127.0.0.1 port=$TARGET_PGPORT user=postgres dbname=restored_custom" \
  --listen "127.0.0.1:$port" >"$LIFECYCLE_TMP/queuecastd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
same_as_sql() {
  local served sql
  served=$(curl -fs "http://127.0.0.1:$port/api/v1/queues/life")
  sql=$(on "$TARGET_PGPORT" restored_custom "SELECT queuecast.snapshot('life')")
  python3 - "$served" "$sql" <<'PY'
import json, sys
served, sql = json.loads(sys.argv[1]), json.loads(sys.argv[2])
keep = lambda d: {k: d[k] for k in ("phases", "total", "paused")}
sys.exit(0 if keep(served) == keep(sql) else 1)
PY
}
same_as_sql
tap_ok $? "queuecastd serves the restored queue as SQL's snapshot()"
on "$TARGET_PGPORT" restored_custom "SELECT queuecast.enqueue('life', 'seen by the daemon')" >/dev/null
ok=1
for _ in $(seq 50); do
  if same_as_sql; then ok=0; break; fi
  sleep 0.1
done
tap_ok $ok "... and the next commit after the restore"
kill "$daemon"
wait "$daemon" 2>/dev/null

tap_done
