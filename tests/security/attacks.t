#!/usr/bin/env bash
# The attacks of the security review, as real login roles (set up by
# setup.sql) with committed transactions against the suite's database.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tap.sh
source "$here/tap.sh"
db="${QUEUECAST_SECURITY_DB:-queuecast_security}"
su() { sql_as postgres "$db" "$@"; }
is_superuser() { su "SELECT rolsuper FROM pg_roles WHERE rolname = '$1'"; }

# --- 1. A role with TRUNCATE and a schema of its own must not become superuser.
# The 0.1.0 TRUNCATE capture ran "DELETE ... WHERE ctid = \$1" as the owner
# under the caller's search_path; this operator would then run as the owner.
sql_as qc_trudy "$db" \
  "CREATE TABLE IF NOT EXISTS trudy.hits (who text, what text)" \
  "GRANT USAGE ON SCHEMA trudy TO PUBLIC" \
  "GRANT INSERT ON trudy.hits TO PUBLIC" \
  "CREATE OR REPLACE FUNCTION trudy.tid_eq(tid, tid) RETURNS boolean LANGUAGE plpgsql AS \$f\$
   BEGIN
     INSERT INTO trudy.hits VALUES (current_user, 'tid =');
     BEGIN ALTER ROLE qc_trudy SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
     RETURN \$1 OPERATOR(pg_catalog.=) \$2;
   END \$f\$" \
  "DROP OPERATOR IF EXISTS trudy.= (tid, tid)" \
  "CREATE OPERATOR trudy.= (LEFTARG = tid, RIGHTARG = tid, FUNCTION = trudy.tid_eq)" >/dev/null
su "SELECT queuecast.create_queue('t')" "SELECT queuecast.enqueue('t', 'to be truncated')" >/dev/null
out=$(sql_as qc_trudy "$db" "SET search_path = trudy, pg_catalog" "BEGIN" "TRUNCATE queuecast.phases" "COMMIT")
tap_is "$out" "" "a role with TRUNCATE on phases truncates them"
tap_is "$(is_superuser qc_trudy)" "f" "TRUNCATE with a shadowed tid operator does not make the role superuser"
tap_is "$(su "SELECT count(*) FROM trudy.hits")" "0" "no SQL ran under the truncating role's search_path"
tap_is "$(su "SELECT op || ' ' || entity || ' by ' || role_name FROM queuecast.changes ORDER BY seq DESC LIMIT 1")" \
  "TRUNCATE phase by qc_trudy" "the TRUNCATE is in the history, with the role that ran it"
tap_is "$(su "SELECT count(*) FROM pg_class WHERE relname = 'truncations' AND relnamespace = 'queuecast'::regnamespace")" \
  "0" "no marker table that others could read or fill"

# --- 2. search_path: shadows of operators and functions that the API uses.
sql_as qc_mallory "$db" \
  "CREATE TABLE IF NOT EXISTS evil.hits (who text, what text)" \
  "GRANT USAGE ON SCHEMA evil TO PUBLIC" \
  "GRANT INSERT ON evil.hits TO PUBLIC" \
  "CREATE OR REPLACE FUNCTION evil.hit(what text) RETURNS void LANGUAGE plpgsql AS \$f\$
   BEGIN
     INSERT INTO evil.hits VALUES (current_user, what);
     BEGIN ALTER ROLE qc_mallory SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
   END \$f\$" \
  "CREATE OR REPLACE FUNCTION evil.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
     \$f\$ BEGIN PERFORM evil.hit('text ='); RETURN a OPERATOR(pg_catalog.=) b; END \$f\$" \
  "CREATE OR REPLACE FUNCTION evil.text_ne(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
     \$f\$ BEGIN PERFORM evil.hit('text <>'); RETURN a OPERATOR(pg_catalog.<>) b; END \$f\$" \
  "CREATE OR REPLACE FUNCTION evil.int8_eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS
     \$f\$ BEGIN PERFORM evil.hit('bigint ='); RETURN a OPERATOR(pg_catalog.=) b; END \$f\$" \
  "CREATE OR REPLACE FUNCTION evil.array_position(a anyarray, e anyelement) RETURNS integer LANGUAGE plpgsql AS
     \$f\$ BEGIN PERFORM evil.hit('array_position'); RETURN pg_catalog.array_position(a, e); END \$f\$" \
  "CREATE OR REPLACE FUNCTION evil.cardinality(a anyarray) RETURNS integer LANGUAGE plpgsql AS
     \$f\$ BEGIN PERFORM evil.hit('cardinality'); RETURN pg_catalog.cardinality(a); END \$f\$" \
  "CREATE OR REPLACE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
     \$f\$ BEGIN PERFORM evil.hit('now'); RETURN pg_catalog.now(); END \$f\$" \
  "CREATE OR REPLACE FUNCTION evil.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS
     \$f\$ BEGIN PERFORM evil.hit('gen_random_uuid'); RETURN pg_catalog.gen_random_uuid(); END \$f\$" \
  "DROP OPERATOR IF EXISTS evil.= (text, text)" \
  "CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq)" \
  "DROP OPERATOR IF EXISTS evil.<> (text, text)" \
  "CREATE OPERATOR evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_ne)" \
  "DROP OPERATOR IF EXISTS evil.= (bigint, bigint)" \
  "CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_eq)" >/dev/null
hits() { su "SELECT count(*) FROM evil.hits"; }
reset_hits() { su "DELETE FROM evil.hits" "ALTER ROLE qc_mallory NOSUPERUSER" >/dev/null; }
shadowed="SET search_path = evil, pg_catalog"

# Every API function a worker and an operator may call, as mallory. The
# calls themselves use no operator or function that the shadows replace (ids
# are looked up first), so a hit can only come from inside queuecast.
# Fills the array api_calls with a call of every API function a worker and an
# operator may use, on phases (enqueued unshadowed) in the states they need.
round=0
fill_api_calls() {
  round=$((round + 1))
  local q="m$round" c f x
  su "SELECT queuecast.create_queue('$q')" >/dev/null
  c=$(su "SELECT queuecast.enqueue('$q', 'complete', '{}', 30)")
  f=$(su "SELECT queuecast.enqueue('$q', 'fail', '{}', 20)")
  x=$(su "SELECT queuecast.enqueue('$q', 'cancel')")
  api_calls=(
    "SELECT queuecast.create_queue('new$round')"
    "SELECT queuecast.enqueue('$q', 'one', '{\"k\":1}', 0)"
    "SELECT queuecast.create_workflow('$q', 'flow', ARRAY['a', 'b'])"
    "SELECT * FROM queuecast.claim('$q', 'w')"
    "SELECT queuecast.complete($c)"
    "SELECT * FROM queuecast.claim('$q', 'w')"
    "SELECT queuecast.fail($f, 'x')"
    "SELECT queuecast.retry($f)"
    "SELECT queuecast.cancel($x)"
    "SELECT queuecast.pause('$q')"
    "SELECT queuecast.resume('$q')"
    "SELECT queuecast.prune('1 day')"
    "SELECT queuecast.snapshot('$q')"
  )
}
fill_api_calls
calls_as_mallory=("${api_calls[@]}")
for call in "${calls_as_mallory[@]}"; do
  out=$(sql_as qc_mallory "$db" "$shadowed" "$call")
  tap_unlike "$out" "ERROR" "mallory, shadowed: $call works"
done
tap_is "$(hits)" "0" "no shadow ran inside any function a worker or operator called"
tap_is "$(is_superuser qc_mallory)" "f" "mallory is still not superuser"

# A superuser calling every function (the readers too) with mallory's schema first.
fill_api_calls
calls_as_superuser=(
  "${api_calls[@]}"
  "SELECT queuecast.workflows_snapshot()"
  "SELECT count(*) FROM queuecast.history('phase', '1')"
  "SELECT count(*) FROM queuecast.phase_history(1)"
  "SELECT count(*) FROM queuecast.workflow_history(1)"
  "SELECT count(*) FROM queuecast.phase_timeline(1)"
  "SELECT queuecast.current_seq()"
  "SELECT queuecast.history_id()"
  "SELECT queuecast.resumable_from()"
  "SELECT count(*) FROM queuecast.capture_status()"
  "SELECT queuecast.phase_status_rank('queued')"
  "SELECT queuecast.workflow_status_rank('failed')"
  "INSERT INTO queuecast.phases (queue, title) VALUES ('m2', 'direct')"
  "BEGIN; TRUNCATE queuecast.phases; INSERT INTO queuecast.phases (queue, title) VALUES ('m2', 'after'); COMMIT"
)
for call in "${calls_as_superuser[@]}"; do
  out=$(sql_as postgres "$db" "$shadowed" "$call")
  tap_unlike "$out" "ERROR" "superuser, shadowed: $call works"
done
tap_is "$(hits)" "0" "no shadow ran inside any function or trigger a superuser called"

# The check can fail: with one function's search_path unpinned, the same
# shadows run as the owner and mallory becomes superuser.
su "ALTER FUNCTION queuecast.pause(text) RESET search_path" >/dev/null
sql_as qc_mallory "$db" "$shadowed" "SELECT queuecast.pause('m1')" >/dev/null
tap_ok $(($(hits) > 0 ? 0 : 1)) "control: an unpinned SECURITY DEFINER function runs the shadow"
tap_is "$(is_superuser qc_mallory)" "t" "control: ... and that makes mallory superuser"
su "ALTER FUNCTION queuecast.pause(text) SET search_path = pg_catalog, pg_temp" >/dev/null
reset_hits
tap_is "$(is_superuser qc_mallory)" "f" "control undone"

# --- 3. Every function pins search_path; only the API's writers run as owner.
tap_is "$(su "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
                WHERE p.pronamespace = 'queuecast'::regnamespace
                  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)")" \
  "capture" "every SQL function pins search_path = pg_catalog, pg_temp (the C trigger runs no SQL)"
tap_is "$(su "SELECT l.lanname || ' ' || p.prosecdef || ' ' || has_function_privilege('public', p.oid, 'EXECUTE')
                FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
               WHERE p.oid = 'queuecast.capture()'::regprocedure")" \
  "c false false" "capture() is the C trigger: no SECURITY DEFINER, nobody may call it"
tap_is "$(su "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
                WHERE p.pronamespace = 'queuecast'::regnamespace AND p.prosecdef")" \
  "cancel,claim,complete,create_queue,create_workflow,enqueue,fail,pause,prune,resume,retry" \
  "SECURITY DEFINER only for the API functions that change the queue"
tap_is "$(su "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
                WHERE p.pronamespace = 'queuecast'::regnamespace
                  AND has_function_privilege('public', p.oid, 'EXECUTE')")" \
  "" "PUBLIC may execute no function of queuecast"

# --- 4. What NOTIFY tells a role that may read nothing.
su "SELECT queuecast.create_queue('secret')" >/dev/null
listen_out="$(mktemp)"
psql -X -q -U qc_nobody -d "$db" -c "LISTEN queuecast" -c "SELECT pg_sleep(1.5)" -c "SELECT 1" \
  >"$listen_out" 2>&1 &
listener=$!
sleep 0.5
sql_as qc_worker "$db" "SELECT queuecast.enqueue('secret', 'title-s3cr3t', '{\"card\":\"4111-s3cr3t\"}')" >/dev/null
wait "$listener"
payload=$(sed -n 's/^Asynchronous notification "queuecast" with payload "\(.*\)" received.*/\1/p' "$listen_out" | tail -1)
rm -f "$listen_out"
tap_like "$payload" '^\{"v":2,"first":[0-9]+,"last":[0-9]+,"n":1,"at":[0-9]+\}$' \
  "a role without grants hears the doorbell: seq range, count and time only"
tap_unlike "$payload" "s3cr3t|secret" "... and no row data"

# --- 5. A forged doorbell changes nothing in the database (the daemon test
# checks that it changes nothing on any dashboard either).
before=$(su "SELECT queuecast.current_seq()")
out=$(sql_as qc_nobody "$db" "SELECT pg_notify('queuecast', '{\"v\":1,\"first\":$((before + 1)),\"last\":$((before + 1)),\"n\":1,\"changes\":[]}')")
tap_unlike "$out" "ERROR" "anyone may NOTIFY the channel (PostgreSQL allows it)"
tap_is "$(su "SELECT queuecast.current_seq()")" "$before" "the forged doorbell wrote no history"

tap_done
