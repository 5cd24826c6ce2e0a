-- History helpers and retention.
-- Autocommit: history is written at commit.
SELECT plan(21);
SELECT queuecast.create_queue('hist');
SELECT queuecast.enqueue('hist', 'h1') AS id \gset
SELECT queuecast.claim('hist', 'w');
SELECT queuecast.complete(:id);

SELECT is(ARRAY(SELECT op FROM queuecast.phase_history(:id)), ARRAY['INSERT', 'UPDATE', 'UPDATE'], 'phase_history');
SELECT is(ARRAY(SELECT status FROM queuecast.phase_timeline(:id)), ARRAY['queued', 'running', 'completed'],
          'timeline lists the statuses in order');
SELECT ok((SELECT bool_and(duration >= interval '0') FROM queuecast.phase_timeline(:id) WHERE left_at IS NOT NULL),
          'durations are non-negative');
SELECT ok((SELECT duration IS NULL FROM queuecast.phase_timeline(:id) ORDER BY seq DESC LIMIT 1),
          'the current status has an open duration');
SELECT is(ARRAY(SELECT coalesce(worker, '-') FROM queuecast.phase_timeline(:id)), ARRAY['-', 'w', 'w'],
          'the worker of each status, carried forward from the claim');
SELECT is((SELECT count(*) FROM queuecast.phase_timeline(:id) WHERE role_name = current_user), 3::bigint,
          'the role that made each change');

-- A deleted phase keeps its timeline; an id handed out again (here by hand,
-- as TRUNCATE ... RESTART IDENTITY does) starts a timeline of its own.
SELECT queuecast.enqueue('hist', 'h2') AS reused \gset
SELECT queuecast.claim('hist', 'w2');
DELETE FROM queuecast.phases WHERE id = :reused;
SELECT is(ARRAY(SELECT status FROM queuecast.phase_timeline(:reused)), ARRAY['queued', 'running'],
          'a deleted phase: its statuses up to the delete');
SELECT pg_sleep(0.01);
INSERT INTO queuecast.phases (id, queue, title) OVERRIDING SYSTEM VALUE VALUES (:reused, 'hist', 'h2 again');
SELECT is(ARRAY(SELECT status FROM queuecast.phase_timeline(:reused)), ARRAY['queued'],
          'an id handed out again: only the new phase''s statuses');
SELECT is(ARRAY(SELECT coalesce(worker, '-') FROM queuecast.phase_timeline(:reused)), ARRAY['-'],
          'an id handed out again: not the earlier phase''s worker');
SELECT is_empty($$SELECT * FROM queuecast.phase_timeline(-5)$$, 'no timeline for an unknown phase');
SELECT throws_ok($$SELECT * FROM queuecast.history('bogus', '1')$$, '22023', NULL, 'unknown entity');
SELECT is_empty($$SELECT * FROM queuecast.phase_history(-5)$$, 'no history for an unknown phase');

-- first_seq_since: the binary search agrees with a scan at every row's time.
SELECT ok((SELECT bool_and(queuecast.first_seq_since(c.committed_at)
                           = (SELECT min(x.seq) FROM queuecast.changes x WHERE x.committed_at >= c.committed_at))
             FROM queuecast.changes c), 'first_seq_since equals a scan at every commit time');
SELECT is(queuecast.first_seq_since(now() + interval '1 day'), (SELECT max(seq) + 1 FROM queuecast.changes),
          'after the newest change: max(seq) + 1');
SELECT is(queuecast.first_seq_since('-infinity'), (SELECT min(seq) FROM queuecast.changes), 'before all: the first seq');

-- prune: old rows go, the newest never does
UPDATE queuecast.changes SET committed_at = committed_at - interval '30 days';
SELECT is(queuecast.prune('7 days', 2), (SELECT count(*) - 2 FROM queuecast.changes), 'prune deletes all but keep_last');
SELECT is((SELECT count(*) FROM queuecast.changes), 2::bigint, 'keep_last rows remain');
SELECT is(queuecast.resumable_from(), (SELECT min(seq) - 1 FROM queuecast.changes) , 'resumable_from moves up')
    ;
SELECT is(queuecast.prune('0 seconds', 1), 1::bigint, 'prune to one row');
SELECT is((SELECT max(seq) FROM queuecast.changes), queuecast.current_seq(), 'the newest row survives');
SELECT throws_ok($$SELECT queuecast.prune('1 day', 0)$$, '22023', NULL, 'keep_last must be at least 1');

SELECT * FROM finish();
