#!/usr/bin/env bash
# ALTER EXTENSION queuecast UPDATE from 0.1.0, the way a site upgrades: the
# 0.1.0 library (built from git history) and SQL hold a filled database; the
# new library is installed; capture refuses to run until the SQL objects are
# updated; after the update data, history, seq and capture carry on. The
# escalation that 0.1.0 allowed is shown to work before and fail after.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../security/tap.sh"
: "${LIFECYCLE_TMP:?run through tests/lifecycle/run.sh}"
repo="$(cd "$here/../.." && pwd)"
db=queuecast_upgrade
q() { sql_as postgres "$db" "$@"; }
# Only the data half: a refused INSERT still moves the id sequences.
fingerprint() {
  local both
  both=$(q "$(cat "$here/fingerprint.sql")")
  echo "${both%% *}"
}
# The library directory of the server under test, which is not pg_config's
# on PATH when the cluster runs from another installation (PG_BINDIR).
libdir="$(sql_as postgres postgres "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")"

# --- The 0.1.0 library, built from the repository's history.
out=$("$repo/tools/build-release-library.sh" 0.1.0 "$LIFECYCLE_TMP/v010" 2>&1)
tap_ok $? "the 0.1.0 library builds from git history" "$out"
[ -f "$out" ] || { tap_done; exit 1; }
old_library="$out"

# Swapping the installed library: a rename, so backends that have the old
# file mapped keep it; new connections load the new one.
cp "$libdir/queuecast.so" "$LIFECYCLE_TMP/current.so"
use_library() {
  cp "$1" "$libdir/.queuecast.so.swap" && mv -f "$libdir/.queuecast.so.swap" "$libdir/queuecast.so"
}
trap 'use_library "$LIFECYCLE_TMP/current.so"' EXIT
use_library "$old_library"

sql_as postgres postgres "DROP DATABASE IF EXISTS $db" "CREATE DATABASE $db" >/dev/null
tap_is "$(q "CREATE EXTENSION queuecast VERSION '0.1.0'" "SELECT extversion FROM pg_extension WHERE extname = 'queuecast'")" \
  "0.1.0" "0.1.0 installs with its own library"

# --- The escalation of the security review, on 0.1.0: it works.
attacker=qc_upgrade_trudy
q "DROP SCHEMA IF EXISTS trudy CASCADE" "DROP ROLE IF EXISTS $attacker" "CREATE ROLE $attacker LOGIN" \
  "GRANT USAGE ON SCHEMA queuecast TO $attacker" "GRANT TRUNCATE ON queuecast.phases TO $attacker" \
  "CREATE SCHEMA trudy AUTHORIZATION $attacker" >/dev/null
sql_as "$attacker" "$db" \
  "CREATE FUNCTION trudy.tid_eq(tid, tid) RETURNS boolean LANGUAGE plpgsql AS \$f\$
   BEGIN
     BEGIN ALTER ROLE $attacker SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
     RETURN \$1 OPERATOR(pg_catalog.=) \$2;
   END \$f\$" \
  "CREATE OPERATOR trudy.= (LEFTARG = tid, RIGHTARG = tid, FUNCTION = trudy.tid_eq)" >/dev/null
escalate() {
  sql_as "$attacker" "$db" "SET search_path = trudy, pg_catalog" "BEGIN" "TRUNCATE queuecast.phases" "COMMIT" >/dev/null
  q "SELECT rolsuper FROM pg_roles WHERE rolname = '$attacker'"
}
tap_is "$(escalate)" "t" "control: on 0.1.0 a role with TRUNCATE becomes superuser"
q "ALTER ROLE $attacker NOSUPERUSER" >/dev/null

# --- Fill 0.1.0 and take its fingerprint.
out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$here/fill.sql" 2>&1 >/dev/null)
tap_ok $? "0.1.0 is filled through its API" "$out"
before=$(fingerprint)
max_seq=$(q "SELECT queuecast.current_seq()")

# --- The new library on the old SQL objects: a clear refusal, nothing written.
use_library "$LIFECYCLE_TMP/current.so"
out=$(q "SELECT queuecast.enqueue('life', 'too early')")
tap_like "$out" "SQL objects are version 0\.1\.0" "the new library refuses the 0.1.0 SQL objects"
tap_like "$out" "ALTER EXTENSION queuecast UPDATE" "... and says what to run"
tap_is "$(fingerprint)" "$before" "... and wrote nothing"

# --- The update.
out=$(q "ALTER EXTENSION queuecast UPDATE" "SELECT extversion FROM pg_extension WHERE extname = 'queuecast'")
tap_is "$out" "0.2.0" "ALTER EXTENSION queuecast UPDATE brings the SQL objects to 0.2.0"
tap_is "$(fingerprint)" "$before" "data, history, retention and sequences carried over unchanged"
tap_is "$(q "SELECT to_regclass('queuecast.truncations') IS NULL")" "t" "the 0.1.0 marker table is gone"
tap_is "$(q "SELECT count(*) FROM queuecast.capture_status() WHERE capture_enabled")" "3" "capture is on"

id=$(q "SELECT queuecast.enqueue('life', 'after the upgrade')")
tap_is "$(q "SELECT string_agg(seq || ' ' || op || ' ' || key, ',') FROM queuecast.changes WHERE seq > $max_seq")" \
  "$((max_seq + 1)) INSERT $id" "the next commit is captured once, right after the old maximum"
q "CREATE ROLE qc_upgrade_worker LOGIN IN ROLE queuecast_worker" >/dev/null 2>&1
tap_like "$(sql_as qc_upgrade_worker "$db" "SELECT id FROM queuecast.claim('life', 'upgraded')")" '^[0-9]+$' \
  "a worker role set up the 0.2.0 way claims work"

tap_is "$(escalate)" "f" "after the upgrade the same TRUNCATE does not make the role superuser"
tap_is "$(q "SELECT op || ' by ' || role_name FROM queuecast.changes ORDER BY seq DESC LIMIT 1")" \
  "TRUNCATE by $attacker" "... and the TRUNCATE is captured"

q "DROP SCHEMA trudy CASCADE" >/dev/null
sql_as postgres postgres "DROP DATABASE $db" "DROP ROLE $attacker" "DROP ROLE qc_upgrade_worker" >/dev/null
tap_done
