-- The SQL API: the normal life of phases and workflows, and every error.
BEGIN;
SELECT plan(47);

SELECT is(queuecast.create_queue('q1'), 'q1', 'create_queue returns the name');
SELECT lives_ok($$SELECT queuecast.create_queue('q1')$$, 'create_queue is idempotent');
SELECT throws_ok($$SELECT queuecast.create_queue('bad name!')$$, '22023', NULL, 'queue names are checked');
SELECT throws_ok($$SELECT queuecast.create_queue(NULL)$$, '22004', NULL, 'null queue name');

-- enqueue
SELECT ok(queuecast.enqueue('q1', 'low') > 0, 'enqueue returns an id');
SELECT ok(queuecast.enqueue('q1', 'high', '{"k": 1}', 10) > 0, 'enqueue with payload and priority');
SELECT throws_ok($$SELECT queuecast.enqueue('nope', 'x')$$, 'P0002', 'queue "nope" does not exist', 'unknown queue');
SELECT throws_ok($$SELECT queuecast.enqueue('q1', NULL)$$, '22004', 'phase title must not be null', 'null title');
SELECT throws_ok($$SELECT queuecast.enqueue(NULL, 'x')$$, '22004', NULL, 'null queue');
SELECT throws_ok($$SELECT queuecast.enqueue('q1', 'x', '{}', 0, NULL, 0)$$, '22023', NULL, 'phase number 0');
SELECT throws_ok($$SELECT queuecast.enqueue('q1', 'x', '{}', 0, 999999)$$, 'P0002', 'workflow 999999 does not exist', 'unknown workflow');
SELECT throws_ok($$SELECT queuecast.enqueue('q1', 'x', '{}', 0, NULL, NULL, 0)$$, '22023', NULL, 'max_attempts 0');

-- claim: priority first, then FIFO; nothing while paused
SELECT is((SELECT title FROM queuecast.claim('q1', 'w1')), 'high', 'claim takes the highest priority');
SELECT is((SELECT status FROM queuecast.phases WHERE title = 'high'), 'running', 'claimed phase is running');
SELECT is((SELECT worker FROM queuecast.phases WHERE title = 'high'), 'w1', 'claimed phase has its worker');
SELECT is((SELECT attempts FROM queuecast.phases WHERE title = 'high'), 1, 'claim counts the attempt');
SELECT ok(queuecast.pause('q1'), 'pause returns true when it paused');
SELECT ok(NOT queuecast.pause('q1'), 'pause returns false when already paused');
SELECT is_empty($$SELECT * FROM queuecast.claim('q1', 'w2')$$, 'a paused queue hands out nothing');
SELECT ok(queuecast.resume('q1'), 'resume returns true');
SELECT ok(NOT queuecast.resume('q1'), 'resume returns false when not paused');
SELECT is((SELECT title FROM queuecast.claim('q1', 'w2')), 'low', 'after resume claim works again');
SELECT is_empty($$SELECT * FROM queuecast.claim('q1', 'w3')$$, 'an empty queue hands out nothing');
SELECT throws_ok($$SELECT * FROM queuecast.claim('q1', '')$$, '22023', NULL, 'empty worker name');
SELECT throws_ok($$SELECT * FROM queuecast.claim('nope', 'w')$$, 'P0002', NULL, 'claim on unknown queue');
SELECT throws_ok($$SELECT queuecast.pause('nope')$$, 'P0002', NULL, 'pause unknown queue');

-- complete / fail / retry / cancel and illegal transitions
SELECT is((queuecast.complete((SELECT id FROM queuecast.phases WHERE title = 'high'))).status, 'completed', 'complete');
SELECT throws_ok(format('SELECT queuecast.complete(%s)', (SELECT id FROM queuecast.phases WHERE title = 'high')),
                 '55000', NULL, 'completing twice is illegal');
SELECT is((queuecast.fail((SELECT id FROM queuecast.phases WHERE title = 'low'), 'boom')).error, 'boom', 'fail records the error');
SELECT throws_ok(format('SELECT queuecast.fail(%s, NULL)', queuecast.enqueue('q1', 'z')), '55000', NULL,
                 'failing a queued phase is illegal');
SELECT is((queuecast.retry((SELECT id FROM queuecast.phases WHERE title = 'low'))).status, 'queued', 'retry requeues');
SELECT throws_ok(format('SELECT queuecast.retry(%s)', (SELECT id FROM queuecast.phases WHERE title = 'low')),
                 '55000', NULL, 'retrying a queued phase is illegal');
SELECT is((queuecast.cancel((SELECT id FROM queuecast.phases WHERE title = 'low'))).status, 'cancelled', 'cancel');
SELECT throws_ok(format('SELECT queuecast.cancel(%s)', (SELECT id FROM queuecast.phases WHERE title = 'low')),
                 '55000', NULL, 'cancelling twice is illegal');
SELECT throws_ok($$SELECT queuecast.complete(-1)$$, '22023', 'phase id must be positive, got -1', 'negative id');
SELECT throws_ok($$SELECT queuecast.complete(NULL)$$, '22004', NULL, 'null id');
SELECT throws_ok($$SELECT queuecast.complete(987654321)$$, 'P0002', 'phase 987654321 does not exist', 'unknown id');

-- attempts are bounded
SELECT queuecast.enqueue('q1', 'once', '{}', 100, NULL, NULL, 1);
SELECT queuecast.fail((SELECT id FROM queuecast.claim('q1', 'w')), 'x');
SELECT throws_ok(format('SELECT queuecast.retry(%s)', (SELECT id FROM queuecast.phases WHERE title = 'once')),
                 '55000', NULL, 'retry beyond max_attempts is refused');

-- workflows: phases run in order; the workflow follows its phases
SELECT queuecast.create_queue('wf');
SELECT ok(queuecast.create_workflow('wf', 'release', ARRAY['build', 'test']) > 0, 'create_workflow');
SELECT is(ARRAY(SELECT status FROM queuecast.phases WHERE queue = 'wf' ORDER BY phase_number),
          ARRAY['queued', 'blocked'], 'later phases start blocked');
SELECT is((SELECT title FROM queuecast.claim('wf', 'w')), 'build', 'phase 1 is claimed first');
SELECT is_empty($$SELECT * FROM queuecast.claim('wf', 'w')$$, 'a blocked phase is not claimable');
SELECT is((SELECT status FROM queuecast.workflows WHERE title = 'release'), 'running', 'workflow runs with its phase');
SELECT queuecast.complete((SELECT id FROM queuecast.phases WHERE title = 'build'));
SELECT is((SELECT status FROM queuecast.phases WHERE title = 'test'), 'ready', 'completing a phase readies the next');
SELECT queuecast.complete((SELECT id FROM queuecast.claim('wf', 'w')));
SELECT is((SELECT status FROM queuecast.workflows WHERE title = 'release'), 'completed', 'workflow completes with its last phase');
SELECT throws_ok($$SELECT queuecast.create_workflow('wf', 'x', ARRAY[]::text[])$$, '22023', NULL, 'workflow without phases');
SELECT throws_ok($$SELECT queuecast.create_workflow('wf', 'x', ARRAY['a', NULL])$$, '22004', NULL, 'null phase title');

SELECT * FROM finish();
ROLLBACK;
