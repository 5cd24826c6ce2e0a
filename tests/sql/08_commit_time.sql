-- History is written at pre-commit, after every deferred trigger has fired:
-- SET CONSTRAINTS cannot move it into the transaction, changes that deferred
-- triggers make at COMMIT are captured, and everything is in statement order.
SELECT plan(6);
SELECT queuecast.create_queue('ct');

-- SET CONSTRAINTS ALL IMMEDIATE (which ORMs issue) writes nothing early: the
-- commit-order lock is not taken before COMMIT.
BEGIN;
SET CONSTRAINTS ALL IMMEDIATE;
SELECT queuecast.enqueue('ct', 'immediate');
SELECT is((SELECT count(*) FROM queuecast.changes WHERE txid = pg_current_xact_id()), 0::bigint,
          'SET CONSTRAINTS ALL IMMEDIATE: no history before COMMIT');
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
             AND objsubid = 20803), 0::bigint, 'and no commit-order lock');
COMMIT;
SELECT is((SELECT count(*) FROM queuecast.changes WHERE data::jsonb ->> 'title' = 'immediate'), 1::bigint,
          'written at COMMIT');

-- A user's deferred trigger that changes a captured table at COMMIT: its
-- change is captured too, after the statement that queued it.
CREATE FUNCTION public.touch_phase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE queuecast.phases SET priority = 7 WHERE id = NEW.id;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER zz_touch AFTER INSERT ON queuecast.phases DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.title = 'touched') EXECUTE FUNCTION public.touch_phase();
SELECT queuecast.current_seq() AS mark \gset
BEGIN;
SELECT queuecast.enqueue('ct', 'touched') AS touched \gset
SELECT queuecast.pause('ct');
COMMIT;
SELECT is(ARRAY(SELECT entity || ' ' || op || ' ' || key || coalesce(' ' || (data::jsonb ->> 'priority'), '')
                  FROM queuecast.changes WHERE seq > :mark ORDER BY seq),
          ARRAY['phase INSERT ' || :touched || ' 0', 'queue UPDATE ct', 'phase UPDATE ' || :touched || ' 7'],
          'a change made by a deferred trigger at COMMIT is captured, in the order it ran');
DROP TRIGGER zz_touch ON queuecast.phases;

-- TRUNCATE after changes in the same transaction (refused with "pending
-- trigger events" while capture was deferred), in statement order.
SELECT queuecast.current_seq() AS mark \gset
BEGIN;
SELECT queuecast.enqueue('ct', 'before truncate') AS before_truncate \gset
TRUNCATE queuecast.phases;
SELECT queuecast.enqueue('ct', 'after truncate') AS after_truncate \gset
COMMIT;
SELECT is(ARRAY(SELECT entity || ' ' || op || ' ' || key FROM queuecast.changes WHERE seq > :mark ORDER BY seq),
          ARRAY['phase INSERT ' || :before_truncate, 'phase TRUNCATE ', 'phase INSERT ' || :after_truncate],
          'TRUNCATE after a change in the same transaction: statement order');

-- Nobody holds the commit-order lock between commits.
SELECT is_empty($$SELECT * FROM queuecast.commit_order_holder()$$, 'commit_order_holder() is empty when idle');

SELECT * FROM finish();
