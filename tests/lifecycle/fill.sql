-- A queue with some life in it, for the lifecycle tests: every kind of change
-- the history knows (INSERT, UPDATE, DELETE, TRUNCATE), a workflow, a pruned
-- stretch of history, a paused queue. Uses only the 0.1.0 API, so the
-- upgrade test can fill a 0.1.0 installation with it.
SELECT queuecast.create_queue('life');
SELECT queuecast.create_queue('other', 'a second queue');
SELECT queuecast.enqueue('life', 'gone with the truncate') FROM generate_series(1, 3);
TRUNCATE queuecast.phases;
SELECT queuecast.enqueue('life', 'phase ' || i, jsonb_build_object('i', i), i % 3)
  FROM generate_series(1, 12) AS i;
SELECT queuecast.create_workflow('life', 'build', ARRAY['fetch', 'compile', 'ship']);
SELECT queuecast.complete(id) FROM queuecast.claim('life', 'w1');
SELECT queuecast.fail(id, 'disk full') FROM queuecast.claim('life', 'w2');
SELECT queuecast.complete(id) FROM queuecast.claim('life', 'w1');
SELECT id FROM queuecast.claim('other', 'w3');
SELECT queuecast.enqueue('other', 'other ' || i) FROM generate_series(1, 3) AS i;
DELETE FROM queuecast.phases WHERE title = 'phase 12';
UPDATE queuecast.phases SET priority = priority + 5 WHERE title IN ('phase 1', 'phase 2');
SELECT queuecast.pause('other');
-- Prune all but the newest 10 rows: resuming must start after them.
SELECT queuecast.prune('0', 10);
SELECT queuecast.enqueue('life', 'after the prune');
