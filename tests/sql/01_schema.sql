-- The public surface of the extension: tables, keys, functions, triggers.
BEGIN;
SELECT plan(35);

SELECT has_schema('queuecast');
SELECT has_table('queuecast', 'queues', 'queues table');
SELECT has_table('queuecast', 'workflows', 'workflows table');
SELECT has_table('queuecast', 'phases', 'phases table');
SELECT has_table('queuecast', 'changes', 'changes (history) table');

SELECT col_is_pk('queuecast', 'queues', 'name', 'queues keyed by name');
SELECT col_is_pk('queuecast', 'workflows', 'id', 'workflows keyed by id');
SELECT col_is_pk('queuecast', 'phases', 'id', 'phases keyed by id');
SELECT col_is_pk('queuecast', 'changes', 'seq', 'history keyed by seq');
SELECT col_type_is('queuecast', 'changes', 'seq', 'bigint', 'seq is 64-bit');
SELECT col_is_fk('queuecast', 'phases', 'queue', 'phases reference queues');
SELECT col_is_fk('queuecast', 'phases', 'workflow_id', 'phases reference workflows');
SELECT col_default_is('queuecast', 'queues', 'paused', 'false', 'queues start unpaused');
SELECT col_default_is('queuecast', 'phases', 'status', 'queued', 'phases start queued');

SELECT columns_are('queuecast', 'phases', ARRAY[
    'id', 'queue', 'workflow_id', 'phase_number', 'title', 'status', 'position', 'priority',
    'payload', 'worker', 'attempts', 'max_attempts', 'error', 'created_at', 'updated_at',
    'started_at', 'finished_at'], 'phases columns');
SELECT columns_are('queuecast', 'changes', ARRAY[
    'seq', 'topic', 'entity', 'key', 'op', 'old_status', 'new_status', 'data', 'old_data',
    'txid', 'committed_at', 'role_name', 'application_name'], 'history columns');

SELECT has_function('queuecast', 'enqueue', ARRAY['text', 'text', 'jsonb', 'integer', 'bigint', 'integer', 'integer']);
SELECT has_function('queuecast', 'claim', ARRAY['text', 'text']);
SELECT has_function('queuecast', 'complete', ARRAY['bigint']);
SELECT has_function('queuecast', 'fail', ARRAY['bigint', 'text']);
SELECT has_function('queuecast', 'retry', ARRAY['bigint']);
SELECT has_function('queuecast', 'cancel', ARRAY['bigint']);
SELECT has_function('queuecast', 'pause', ARRAY['text']);
SELECT has_function('queuecast', 'resume', ARRAY['text']);
SELECT has_function('queuecast', 'snapshot', ARRAY['text']);
SELECT has_function('queuecast', 'workflows_snapshot', '{}'::text[]);
SELECT has_function('queuecast', 'prune', ARRAY['interval', 'bigint']);
SELECT function_lang_is('queuecast', 'capture', '{}'::text[], 'c', 'capture is a C (C++) function');

SELECT has_trigger('queuecast', 'phases', 'capture', 'phases captured');
SELECT has_trigger('queuecast', 'workflows', 'capture', 'workflows captured');
SELECT has_trigger('queuecast', 'queues', 'capture', 'queues captured');
SELECT has_trigger('queuecast', 'phases', 'capture_truncate', 'phase TRUNCATE captured');

SELECT ok((SELECT NOT tgdeferrable AND tgconstraint = 0 FROM pg_trigger
            WHERE tgname = 'capture' AND tgrelid = 'queuecast.phases'::regclass),
          'capture is a plain AFTER trigger: it buffers, and pre-commit writes (SET CONSTRAINTS cannot move it)');
SELECT ok(queuecast.history_id() IS NOT NULL, 'the history has an identity');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'queuecast'), '0.2.0', 'version');

SELECT * FROM finish();
ROLLBACK;
