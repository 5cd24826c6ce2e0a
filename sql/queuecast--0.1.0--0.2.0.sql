-- queuecast 0.1.0 -> 0.2.0: safe to give to an application role.
--
-- A fresh CREATE EXTENSION runs queuecast--0.1.0.sql and then this script, so
-- the upgrade path and a new install are the same path (tested both ways).
--
--   * Group roles and grants: a role granted queuecast_worker, _operator,
--     _reader or _writer can do that job and nothing more (docs/security.md).
--   * Every function pins search_path; the API functions that change the
--     queue are SECURITY DEFINER, so callers need no table privileges.
--   * TRUNCATE capture keeps its marker in backend memory: no SQL runs as the
--     extension's owner on a caller's behalf (queuecast.truncations is gone).
--   * The NOTIFY payload carries no row data (the library sends v2 payloads).
--   * Row capture triggers are plain AFTER triggers: they only buffer the
--     change, and the history is written at pre-commit (SET CONSTRAINTS no
--     longer decides when the commit-order lock is taken).
--   * commit_order_holder() shows who holds the commit-order lock;
--     commit_order_stats() what the lock has cost writers since start.
--   * pg_dump / pg_restore: a restored retention row replaces the fresh one,
--     and identity sequences are dumped.
\echo Use "ALTER EXTENSION queuecast UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- TRUNCATE capture without a marker table
------------------------------------------------------------------------------

DROP TABLE queuecast.truncations;

------------------------------------------------------------------------------
-- Capture at pre-commit (docs/capture.md, "The ordering invariant")
------------------------------------------------------------------------------

-- The row triggers only describe each change into the transaction's buffer,
-- in statement order; the library writes the buffer at pre-commit. Deferred
-- constraint triggers would fire at COMMIT anyway, but SET CONSTRAINTS could
-- move them, and TRUNCATE after a change in the same transaction would fail
-- with "pending trigger events".
DROP TRIGGER capture ON queuecast.queues;
DROP TRIGGER capture ON queuecast.workflows;
DROP TRIGGER capture ON queuecast.phases;
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON queuecast.queues
    FOR EACH ROW EXECUTE FUNCTION queuecast.capture();
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON queuecast.workflows
    FOR EACH ROW EXECUTE FUNCTION queuecast.capture();
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON queuecast.phases
    FOR EACH ROW EXECUTE FUNCTION queuecast.capture();
COMMENT ON FUNCTION queuecast.capture() IS
    'C++ capture trigger: buffers each change; the history rows and one NOTIFY are written at pre-commit, in commit order.';

------------------------------------------------------------------------------
-- Dump and restore
------------------------------------------------------------------------------

-- CREATE EXTENSION inserts a fresh retention row; a restore then copies the
-- dumped one in. The dumped row (history_id, pruned_through) describes the
-- restored history, so it replaces the fresh one.
--
-- Only a restore inserts into this table, and a restore must run with
-- session_replication_role = replica: otherwise the capture triggers record
-- every restored row again as a new change, before or among the restored
-- history. That cannot be undone here, but it must not pass silently: the
-- restore fails loudly with what to do. ENABLE ALWAYS: it must fire in
-- replica sessions too.
CREATE FUNCTION queuecast._retention_row_replaces() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('session_replication_role') <> 'replica' THEN
        RAISE EXCEPTION 'queuecast data must be restored with session_replication_role = replica'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Without it, every restored row is captured again as a new change and the restored history is not the original.',
                  HINT = 'Drop this database, create it again, and restore with PGOPTIONS=''-c session_replication_role=replica'' pg_restore ... (or psql -f for a plain dump); see docs/security.md.';
    END IF;
    DELETE FROM queuecast.retention;
    RETURN NEW;
END $$;
CREATE TRIGGER restored_row_replaces BEFORE INSERT ON queuecast.retention
    FOR EACH ROW EXECUTE FUNCTION queuecast._retention_row_replaces();
ALTER TABLE queuecast.retention ENABLE ALWAYS TRIGGER restored_row_replaces;

-- Without these a restored database hands out ids that restored rows hold.
SELECT pg_catalog.pg_extension_config_dump('queuecast.phases_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('queuecast.workflows_id_seq', '');

------------------------------------------------------------------------------
-- Is capture on? (the daemon's /readyz asks)
------------------------------------------------------------------------------

-- One row per captured table. Capture is off for a table when one of its
-- triggers is disabled, missing, or set to fire only for replication. A
-- session with session_replication_role = replica is not captured either;
-- that is a per-session setting this function cannot see.
CREATE FUNCTION queuecast.capture_status()
RETURNS TABLE (table_name text, capture_enabled boolean, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'queuecast.' || t.name,
           count(tg.oid) = 2 AND coalesce(bool_and(tg.tgenabled IN ('O', 'A')), false),
           CASE
               WHEN count(tg.oid) < 2 THEN
                   'a capture trigger is missing: changes are not recorded; re-create the extension'
               WHEN bool_or(tg.tgenabled = 'D') THEN
                   'capture is disabled: changes are not recorded; run ALTER TABLE queuecast.'
                   || t.name || ' ENABLE TRIGGER capture, ENABLE TRIGGER capture_truncate'
               WHEN bool_or(tg.tgenabled = 'R') THEN
                   'capture fires only in replica sessions: changes are not recorded; run ALTER TABLE queuecast.'
                   || t.name || ' ENABLE TRIGGER capture, ENABLE TRIGGER capture_truncate'
               ELSE 'capturing'
           END
      FROM unnest(ARRAY['queues', 'workflows', 'phases']) AS t(name)
      JOIN pg_namespace n ON n.nspname = 'queuecast'
      LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name
      LEFT JOIN pg_trigger tg ON tg.tgrelid = c.oid AND tg.tgname IN ('capture', 'capture_truncate')
     GROUP BY t.name
     ORDER BY t.name
$$;

------------------------------------------------------------------------------
-- Who holds the commit-order lock (docs/capture.md, "When the lock is held")
------------------------------------------------------------------------------

-- The lock is one of two things (extension/commit_lock.hpp). Preloaded, it
-- lives in the library's shared memory: commit_lock_holder() reads who holds
-- it and since when, exactly. Not preloaded, it is the advisory locktag
-- (database, 0x71636173, 0, 0x5143): pg_locks shows it with classid
-- 0x71636173, objid 0 and objsubid 0x5143 (20803), and held_at_most is
-- measured from the start of the holder's statement, an upper bound (the
-- lock is taken at pre-commit and let go once the commit is visible, so its
-- holder is always inside COMMIT or at the end of an autocommitted statement).
-- SECURITY INVOKER: it shows what the caller may see anyway. pid, role and
-- application_name of every backend are public in PostgreSQL; held_at_most
-- (advisory form) and the wait event of another role's backend are null
-- unless the caller has pg_read_all_stats (e.g. through pg_monitor). No
-- queuecast role gains anything by it.
CREATE FUNCTION queuecast.commit_lock_holder(OUT pid integer, OUT held_since timestamptz,
                                             OUT waiters bigint)
RETURNS SETOF record SET search_path = pg_catalog, pg_temp  -- it runs no SQL; pinned all the same
AS 'MODULE_PATHNAME', 'queuecast_commit_lock_holder' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queuecast.commit_lock_holder() IS
    'The holder of the commit-order lock in shared memory (preloaded library only; else no row). Use commit_order_holder().';

CREATE FUNCTION queuecast.commit_order_holder()
RETURNS TABLE (pid integer, role_name name, application_name text, held_at_most interval,
               wait_event_type text, wait_event text, waiters bigint)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    WITH advisory AS (
        SELECT l.pid, l.granted
          FROM pg_locks l
         WHERE l.locktype = 'advisory'
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid = x'71636173'::int::oid
           AND l.objid = 0
           AND l.objsubid = 20803
    ), holder AS (
        SELECT h.pid, NULL::timestamptz AS held_since,
               (SELECT count(*) FROM advisory w WHERE NOT w.granted) AS waiters
          FROM advisory h
         WHERE h.granted
        UNION ALL
        SELECT s.pid, s.held_since, s.waiters FROM queuecast.commit_lock_holder() s
    )
    SELECT h.pid, a.usename, a.application_name,
           clock_timestamp() - coalesce(h.held_since, a.query_start),
           a.wait_event_type, a.wait_event, h.waiters
      FROM holder h
      LEFT JOIN pg_stat_activity a ON a.pid = h.pid
$$;
COMMENT ON FUNCTION queuecast.commit_order_holder() IS
    'The backend holding the commit-order lock (none, or one row), an upper bound of how long it has held it, and how many wait for it.';

-- How much the lock has cost the database's writers since the server
-- started (docs/capture.md, "What the lock costs, in figures"): the lock in
-- shared memory counts as it goes, under the lock, with no statement of its
-- own. Not preloaded, PostgreSQL's lock manager keeps no such figures and
-- there is no row. Two databases whose OIDs are equal modulo 128 share one
-- lock, and so its figures.
CREATE FUNCTION queuecast.commit_order_stats(
    OUT counting_since timestamptz, OUT acquisitions bigint, OUT contended bigint,
    OUT wait_ms double precision, OUT hold_ms double precision, OUT long_holds bigint)
RETURNS SETOF record SET search_path = pg_catalog, pg_temp  -- it runs no SQL; pinned all the same
AS 'MODULE_PATHNAME', 'queuecast_commit_order_stats' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queuecast.commit_order_stats() IS
    'Since counting_since (server start): how often the commit-order lock was taken, how often a writer had to wait for it, the time waited and held in all (ms), and holds of 1 ms or more. Preloaded library only; else no row.';

------------------------------------------------------------------------------
-- Where in history a moment begins
------------------------------------------------------------------------------

-- The first seq committed at or after p_at (max(seq) + 1 when none is). The
-- history has no index but its primary key (every index is written under
-- the commit-order lock), and needs none for this: committed_at is stamped
-- under that lock, so it never decreases along seq, and a binary search over
-- the primary key finds the seq in about log2(rows) probes (24 for 10
-- million rows). phase_timeline() and queuecastd's charts start from it.
CREATE FUNCTION queuecast.first_seq_since(p_at timestamptz) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
    WITH RECURSIVE search(lo, hi) AS (
        SELECT coalesce((SELECT min(c.seq) FROM queuecast.changes c), 0),
               coalesce((SELECT max(c.seq) FROM queuecast.changes c), 0) + 1
        UNION ALL
        SELECT CASE WHEN m.at < p_at THEN m.mid + 1 ELSE s.lo END,
               CASE WHEN m.at < p_at THEN s.hi ELSE m.mid END
          FROM search s
         CROSS JOIN LATERAL (
            SELECT (s.lo + s.hi) / 2 AS mid,
                   (SELECT c.committed_at FROM queuecast.changes c
                     WHERE c.seq >= (s.lo + s.hi) / 2 ORDER BY c.seq LIMIT 1) AS at) m
         WHERE s.lo < s.hi
    )
    SELECT s.lo FROM search s WHERE s.lo >= s.hi LIMIT 1
$$;
COMMENT ON FUNCTION queuecast.first_seq_since(timestamptz) IS
    'The first seq committed at or after the given time (max(seq) + 1 when none is), by binary search over seq.';

------------------------------------------------------------------------------
-- A phase's timeline: who, where, and only its own lifetime
------------------------------------------------------------------------------

-- Its statuses in commit order: when it entered each, when it left and how
-- long it stayed (the last one's left_at and duration are open: null), on
-- which worker - an UPDATE's data holds only the columns it changed, so it is
-- the last worker set at or before the change - and who made the change.
--
-- Only this phase's lifetime is read: an id can be handed out again after
-- TRUNCATE ... RESTART IDENTITY, and the earlier phase's statuses are not
-- this one's. The history has no index on (entity, key) (every index is
-- written under the commit-order lock), so the scan starts at the first
-- change committed at or after the phase was created (first_seq_since). A phase
-- that no longer exists is shown from its last INSERT (a full scan). That
-- fallback's cost estimate is a whole history's, enough to make PostgreSQL
-- JIT-compile the statement, which took 42 of 43 ms on 10 million rows:
-- jit is off here.
-- queuecastd's phase detail (GET /api/v1/phases/<id>) is this function.
DROP FUNCTION queuecast.phase_timeline(bigint);
CREATE FUNCTION queuecast.phase_timeline(p_phase_id bigint)
RETURNS TABLE (seq bigint, status text, entered_at timestamptz, left_at timestamptz,
               duration interval, worker text, role_name name, application_name text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
    WITH first_seq(seq, last) AS (
        SELECT coalesce(
            (SELECT queuecast.first_seq_since(p.created_at)
               FROM queuecast.phases p WHERE p.id = p_phase_id),
            (SELECT max(c.seq) FROM queuecast.changes c
              WHERE c.entity = 'phase' AND c.key = p_phase_id::text AND c.op = 'INSERT'),
            0),
            (SELECT max(c.seq) FROM queuecast.changes c)
    ), lifetime AS (
        -- A closed range, not seq >= lo alone: the planner cannot know lo
        -- and would guess a third of the history (a parallel scan of all of
        -- it); a range is guessed narrow, and read from the primary key.
        SELECT c.seq, c.old_status, c.new_status, c.data, c.committed_at, c.role_name,
               c.application_name
          FROM queuecast.changes c
         WHERE c.seq BETWEEN (SELECT f.seq FROM first_seq f) AND (SELECT f.last FROM first_seq f)
           AND c.entity = 'phase' AND c.key = p_phase_id::text
    )
    SELECT h.seq, h.new_status, h.committed_at,
           lead(h.committed_at) OVER w,
           lead(h.committed_at) OVER w - h.committed_at,
           (SELECT x.data->>'worker' FROM lifetime x
             WHERE x.seq <= h.seq AND x.data::jsonb ? 'worker'
             ORDER BY x.seq DESC LIMIT 1),
           h.role_name, h.application_name
      FROM lifetime h
     WHERE h.new_status IS NOT NULL AND h.new_status IS DISTINCT FROM h.old_status
    WINDOW w AS (ORDER BY h.seq)
     ORDER BY h.seq
$$;
COMMENT ON FUNCTION queuecast.phase_timeline(bigint) IS
    'A phase''s statuses in commit order with when, how long, on which worker and by whom; its own lifetime only.';

------------------------------------------------------------------------------
-- Every SQL and PL/pgSQL function pins search_path: no caller's schema can
-- shadow an operator or function they use. Those that change the queue run
-- as the owner.
------------------------------------------------------------------------------

-- queuecast.capture() is C: it runs no SQL and resolves no name through
-- search_path (only queuecast.* by namespace OID and builtin type output
-- functions), so a pin would protect nothing - and it would cost a GUC save
-- and restore per row, the restore inside the commit-order lock.
ALTER FUNCTION queuecast._require_queue(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast._lock_phase(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast._illegal_transition(queuecast.phases, text)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast._advance_workflow(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.current_seq() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.phase_json(queuecast.phases) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.workflow_json(queuecast.workflows) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.phase_status_rank(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.workflow_status_rank(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.snapshot(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.workflows_snapshot() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.history(text, text, bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.phase_history(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.workflow_history(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.phase_timeline(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.history_id() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.resumable_from() SET search_path = pg_catalog, pg_temp;

ALTER FUNCTION queuecast.create_queue(text, text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.pause(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.resume(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.enqueue(text, text, jsonb, integer, bigint, integer, integer)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.create_workflow(text, text, text[], jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.claim(text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.complete(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.fail(bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.retry(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.cancel(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION queuecast.prune(interval, bigint)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------------
-- Roles. Group roles (NOLOGIN) shared by every database of the cluster that
-- has queuecast; a site grants them to its login roles:
--   queuecast_reader    snapshots, history, capture_status (the daemon)
--   queuecast_worker    enqueue, create_workflow, claim, complete, fail, retry
--   queuecast_operator  create_queue, pause, resume, cancel, retry, prune; reads
--   queuecast_writer    plain INSERT/UPDATE/DELETE on queues, workflows and
--                       phases (captured like the API); reads
-- Nobody but the owner writes history, changes_seq or retention.
------------------------------------------------------------------------------

DO $roles$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['queuecast_reader', 'queuecast_worker', 'queuecast_operator',
                                  'queuecast_writer'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', v_role);
        ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles
                       WHERE rolname = v_role
                         AND (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb
                              OR rolreplication OR rolbypassrls)) THEN
            -- Someone made a role of that name that is more than a group:
            -- granting it our privileges would hand them to whoever it is.
            RAISE EXCEPTION 'role "%" exists and is not a plain NOLOGIN group role', v_role
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'queuecast grants privileges to this role name; drop or rename that role first.';
        END IF;
    END LOOP;
END $roles$;

REVOKE ALL ON SCHEMA queuecast FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA queuecast FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA queuecast FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA queuecast FROM PUBLIC;

GRANT USAGE ON SCHEMA queuecast
    TO queuecast_reader, queuecast_worker, queuecast_operator, queuecast_writer;

GRANT SELECT ON queuecast.queues, queuecast.workflows, queuecast.phases, queuecast.changes,
                queuecast.retention
    TO queuecast_reader;
GRANT EXECUTE ON FUNCTION
    queuecast.current_seq(),
    queuecast.phase_json(queuecast.phases),
    queuecast.workflow_json(queuecast.workflows),
    queuecast.phase_status_rank(text),
    queuecast.workflow_status_rank(text),
    queuecast.snapshot(text),
    queuecast.workflows_snapshot(),
    queuecast.history(text, text, bigint),
    queuecast.phase_history(bigint),
    queuecast.workflow_history(bigint),
    queuecast.phase_timeline(bigint),
    queuecast.first_seq_since(timestamptz),
    queuecast.history_id(),
    queuecast.resumable_from(),
    queuecast.capture_status(),
    queuecast.commit_order_holder(),
    queuecast.commit_lock_holder(),
    queuecast.commit_order_stats()
    TO queuecast_reader;

GRANT EXECUTE ON FUNCTION
    queuecast.enqueue(text, text, jsonb, integer, bigint, integer, integer),
    queuecast.create_workflow(text, text, text[], jsonb),
    queuecast.claim(text, text),
    queuecast.complete(bigint),
    queuecast.fail(bigint, text),
    queuecast.retry(bigint)
    TO queuecast_worker;

GRANT EXECUTE ON FUNCTION
    queuecast.create_queue(text, text),
    queuecast.pause(text),
    queuecast.resume(text),
    queuecast.cancel(bigint),
    queuecast.retry(bigint),
    queuecast.prune(interval, bigint)
    TO queuecast_operator;
GRANT queuecast_reader TO queuecast_operator;

GRANT INSERT, UPDATE, DELETE ON queuecast.queues, queuecast.workflows, queuecast.phases
    TO queuecast_writer;
GRANT USAGE ON SEQUENCE queuecast.phase_position_seq TO queuecast_writer;
GRANT queuecast_reader TO queuecast_writer;
