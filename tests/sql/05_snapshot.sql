-- queuecast.snapshot(): the document the daemon serves.
-- Autocommit: the history a snapshot's seq refers to is written at commit.
SELECT plan(12);
SELECT queuecast.create_queue('snap');

SELECT is(queuecast.snapshot('snap') - 'seq', '{"phases": [], "total": 0, "paused": false}'::jsonb, 'empty queue');
-- seq is compared with the history read directly (snapshot() computes its
-- seq with current_seq(), so comparing with that would prove nothing).
SELECT is((queuecast.snapshot('snap') ->> 'seq')::bigint,
          (SELECT seq FROM queuecast.changes WHERE entity = 'queue' AND key = 'snap' AND op = 'INSERT'),
          'seq is that of the newest change: the queue''s creation');

SELECT queuecast.enqueue('snap', 'queued low');
SELECT queuecast.enqueue('snap', 'queued high', '{}', 5);
SELECT queuecast.enqueue('snap', 'will run');
UPDATE queuecast.phases SET status = 'running' WHERE title = 'will run';
SELECT queuecast.enqueue('snap', 'will fail');
UPDATE queuecast.phases SET status = 'failed' WHERE title = 'will fail';

SELECT is(ARRAY(SELECT p ->> 'title' FROM jsonb_array_elements(queuecast.snapshot('snap') -> 'phases') p),
          ARRAY['will run', 'queued high', 'queued low', 'will fail'],
          'order: running, then claimable by priority and position, then failed');
SELECT is((queuecast.snapshot('snap') ->> 'total')::int, 4, 'total');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(queuecast.snapshot('snap') -> 'phases' -> 0) k),
          ARRAY['attempts', 'created_at', 'error', 'finished_at', 'id', 'max_attempts', 'phase_number',
                'position', 'priority', 'queue', 'started_at', 'status', 'title', 'updated_at', 'worker',
                'workflow_id'], 'phase object keys (no payload)');
SELECT queuecast.pause('snap');
SELECT is((queuecast.snapshot('snap') ->> 'paused')::boolean, true, 'paused shows');
SELECT is((queuecast.snapshot('snap') ->> 'seq')::bigint,
          (SELECT seq FROM queuecast.changes WHERE entity = 'queue' AND key = 'snap' AND op = 'UPDATE'),
          'seq follows changes: that of the pause just written');

SET timezone = 'America/New_York';
SELECT ok((queuecast.snapshot('snap') -> 'phases' -> 0 ->> 'created_at') LIKE '%+00:00',
          'timestamps are UTC whatever the session time zone');

SELECT throws_ok($$SELECT queuecast.snapshot('missing')$$, 'P0002', 'queue "missing" does not exist', 'unknown queue');
SELECT throws_ok($$SELECT queuecast.snapshot(NULL)$$, '22004', NULL, 'null queue');

SELECT queuecast.create_workflow('snap', 'w-ok', ARRAY['a']);
SELECT queuecast.create_workflow('snap', 'w-bad', ARRAY['a']);
UPDATE queuecast.workflows SET status = 'failed' WHERE title = 'w-bad';
SELECT is(ARRAY(SELECT w ->> 'title' FROM jsonb_array_elements(queuecast.workflows_snapshot() -> 'workflows') w
                 WHERE w ->> 'title' LIKE 'w-%'),
          ARRAY['w-bad', 'w-ok'], 'failed workflows first');
SELECT is((queuecast.workflows_snapshot() ->> 'total')::int, (SELECT count(*)::int FROM queuecast.workflows), 'workflow total');

SELECT * FROM finish();
RESET timezone;
