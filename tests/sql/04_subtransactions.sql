-- Savepoints: a rolled-back savepoint leaves no history; a released one does.
-- History is written at commit: each transaction below commits, then its
-- history is read. (No assertion runs inside a savepoint that is rolled back:
-- pgTAP's own bookkeeping would roll back with it.)
SELECT plan(9);
SELECT queuecast.create_queue('sp');
SELECT is((SELECT count(*) FROM queuecast.changes WHERE topic = 'queue:sp'), 1::bigint, 'queue creation recorded');

BEGIN;
SELECT queuecast.enqueue('sp', 'first');
SELECT is((SELECT count(*) FROM queuecast.changes WHERE topic = 'queue:sp'), 1::bigint,
          'nothing is written before the commit');
SAVEPOINT a;
SELECT queuecast.enqueue('sp', 'rolled back');
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
SELECT queuecast.enqueue('sp', 'kept');
SAVEPOINT c;
SELECT queuecast.enqueue('sp', 'inner rolled back');
ROLLBACK TO SAVEPOINT c;
RELEASE SAVEPOINT b;
COMMIT;
SELECT is(ARRAY(SELECT data::jsonb ->> 'title' FROM queuecast.changes WHERE topic = 'queue:sp' AND entity = 'phase' ORDER BY seq),
          ARRAY['first', 'kept'], 'released savepoint kept, nested rollback dropped');

-- A savepoint whose changes were rolled back, then more changes: the buffer
-- was cut where the savepoint began and grows again from there.
BEGIN;
SAVEPOINT d;
SELECT queuecast.enqueue('sp', 'again');
ROLLBACK TO SAVEPOINT d;
SELECT queuecast.enqueue('sp', 'after');
COMMIT;
SELECT is(ARRAY(SELECT data::jsonb ->> 'title' FROM queuecast.changes WHERE topic = 'queue:sp' AND entity = 'phase' ORDER BY seq),
          ARRAY['first', 'kept', 'after'], 'capture continues after a savepoint rolled back everything it buffered');

-- History rows appear in statement order, savepoints kept and rolled back
-- included: the (entity, op, key) list along seq is exactly what ran.
SELECT queuecast.current_seq() AS mark \gset
BEGIN;
SAVEPOINT e;
SELECT queuecast.enqueue('sp', 'o1');
UPDATE queuecast.phases SET priority = 1 WHERE title = 'o1';
SAVEPOINT f;
SELECT queuecast.enqueue('sp', 'o-dropped');
UPDATE queuecast.phases SET priority = 9 WHERE title = 'o1';
ROLLBACK TO SAVEPOINT f;
RELEASE SAVEPOINT e;
SELECT queuecast.enqueue('sp', 'o2');
SELECT id AS o1 FROM queuecast.phases WHERE title = 'o1' \gset
SELECT id AS o2 FROM queuecast.phases WHERE title = 'o2' \gset
DELETE FROM queuecast.phases WHERE title = 'o1';
SELECT queuecast.pause('sp');
COMMIT;
SELECT is(ARRAY(SELECT entity || ' ' || op || ' ' || key FROM queuecast.changes WHERE seq > :mark ORDER BY seq),
          ARRAY['phase INSERT ' || :o1, 'phase UPDATE ' || :o1, 'phase INSERT ' || :o2,
                'phase DELETE ' || :o1, 'queue UPDATE sp'],
          'history rows in statement order; the rolled-back savepoint left none');
SELECT is((SELECT max(seq) - min(seq) + 1 FROM queuecast.changes WHERE seq > :mark), 5::bigint,
          'one transaction''s seqs are contiguous: rolled-back changes drew none');

-- an error inside a function rolls back its own captured changes
CREATE FUNCTION pg_temp.enqueue_then_fail() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM queuecast.enqueue('sp', 'doomed');
    PERFORM 1 / 0;
EXCEPTION WHEN division_by_zero THEN
    NULL;
END $$;
SELECT pg_temp.enqueue_then_fail();
SELECT is((SELECT count(*) FROM queuecast.changes WHERE data::jsonb ->> 'title' = 'doomed'), 0::bigint,
          'an exception block undoes its history');
SELECT is((SELECT count(*) FROM queuecast.phases WHERE title = 'doomed'), 0::bigint, 'and its row');

-- Many exception blocks in one transaction (one subtransaction per row, as
-- PL/pgSQL loops with EXCEPTION do): every other one fails.
SELECT queuecast.current_seq() AS mark \gset
DO $$
BEGIN
    FOR i IN 1..40 LOOP
        BEGIN
            PERFORM queuecast.enqueue('sp', 'loop ' || i);
            IF i % 2 = 0 THEN PERFORM 1 / 0; END IF;
        EXCEPTION WHEN division_by_zero THEN
            NULL;
        END;
    END LOOP;
END $$;
SELECT is(ARRAY(SELECT data::jsonb ->> 'title' FROM queuecast.changes WHERE seq > :mark ORDER BY seq),
          ARRAY(SELECT 'loop ' || i FROM generate_series(1, 39, 2) i),
          'a loop of exception blocks keeps exactly the changes of the blocks that succeeded');

SELECT * FROM finish();
