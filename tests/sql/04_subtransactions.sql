-- Savepoints: a rolled-back savepoint leaves no history; a released one does.
BEGIN;
SELECT plan(8);
SET CONSTRAINTS ALL IMMEDIATE;
SELECT queuecast.create_queue('sp');
SELECT is((SELECT count(*) FROM queuecast.changes WHERE topic = 'queue:sp'), 1::bigint, 'queue creation recorded');

SAVEPOINT a;
SELECT queuecast.enqueue('sp', 'rolled back');
SELECT is((SELECT count(*) FROM queuecast.changes WHERE topic = 'queue:sp'), 2::bigint, 'visible inside the savepoint');
ROLLBACK TO SAVEPOINT a;
SELECT is((SELECT count(*) FROM queuecast.changes WHERE topic = 'queue:sp'), 1::bigint, 'gone after ROLLBACK TO');

SAVEPOINT b;
SELECT queuecast.enqueue('sp', 'kept');
SAVEPOINT c;
SELECT queuecast.enqueue('sp', 'inner rolled back');
ROLLBACK TO SAVEPOINT c;
RELEASE SAVEPOINT b;
SELECT is(ARRAY(SELECT data::jsonb ->> 'title' FROM queuecast.changes WHERE topic = 'queue:sp' AND entity = 'phase' ORDER BY seq),
          ARRAY['kept'], 'released savepoint kept, nested rollback dropped');

-- the commit-order lock taken inside a rolled-back savepoint is released with it
SAVEPOINT d;
SELECT queuecast.enqueue('sp', 'again');
ROLLBACK TO SAVEPOINT d;
SELECT queuecast.enqueue('sp', 'after');
SELECT is((SELECT count(*) FROM queuecast.changes WHERE topic = 'queue:sp' AND entity = 'phase'), 2::bigint,
          'capture works after a savepoint that held the lock rolled back');

-- History rows appear in statement order, savepoints kept and rolled back
-- included: the (entity, op, key) list along seq is exactly what ran.
SELECT queuecast.current_seq() AS mark \gset
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
SELECT is(ARRAY(SELECT entity || ' ' || op || ' ' || key FROM queuecast.changes WHERE seq > :mark ORDER BY seq),
          ARRAY['phase INSERT ' || :o1, 'phase UPDATE ' || :o1, 'phase INSERT ' || :o2,
                'phase DELETE ' || :o1, 'queue UPDATE sp'],
          'history rows in statement order; the rolled-back savepoint left none');

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

SELECT * FROM finish();
ROLLBACK;
