-- Plain DML by any client is captured exactly like the API's changes.
-- History is written at commit, so this file runs in autocommit mode: every
-- statement commits and the next one reads its history. (The test database
-- is created for this run; 03 to 08 leave their committed rows in it.)
SELECT plan(32);
SET application_name = 'pgtap-capture';

CREATE FUNCTION pg_temp.last_change() RETURNS queuecast.changes
LANGUAGE sql AS $$ SELECT * FROM queuecast.changes ORDER BY seq DESC LIMIT 1 $$;

INSERT INTO queuecast.queues (name) VALUES ('dml');
SELECT is((pg_temp.last_change()).op, 'INSERT', 'queue insert captured');
SELECT is((pg_temp.last_change()).topic, 'queue:dml', 'queue topic');
SELECT is((pg_temp.last_change()).new_status, 'false', 'queue status is its paused flag');

INSERT INTO queuecast.phases (queue, title, payload) VALUES ('dml', 'raw', '{"a": [1, 2]}')
RETURNING pg_current_xact_id() AS raw_xid \gset
SELECT is((pg_temp.last_change()).entity, 'phase', 'phase insert captured');
SELECT is((pg_temp.last_change()).key, (SELECT id::text FROM queuecast.phases WHERE title = 'raw'), 'key is the id');
SELECT is((pg_temp.last_change()).new_status, 'queued', 'new status of an insert');
SELECT ok((pg_temp.last_change()).old_status IS NULL, 'no old status for an insert');
SELECT is((pg_temp.last_change()).data::jsonb - 'created_at' - 'updated_at',
          (SELECT to_jsonb(p) - 'created_at' - 'updated_at' FROM queuecast.phases p WHERE title = 'raw'),
          'insert data is the whole row');
SELECT is((pg_temp.last_change()).data::jsonb ->> 'created_at',
          (SELECT replace(to_jsonb(created_at)::text, '"', '') FROM queuecast.phases WHERE title = 'raw'),
          'timestamps print as to_jsonb() prints them in UTC');
SELECT is((pg_temp.last_change()).application_name, 'pgtap-capture', 'application name recorded');
SELECT is((pg_temp.last_change()).role_name, current_user::name, 'role recorded');
SELECT is((pg_temp.last_change()).txid, :'raw_xid'::xid8, 'transaction id recorded');

UPDATE queuecast.phases SET status = 'running', worker = 'psql' WHERE title = 'raw';
SELECT is((pg_temp.last_change()).op, 'UPDATE', 'plain UPDATE captured');
SELECT is((pg_temp.last_change()).old_status, 'queued', 'old status');
SELECT is((pg_temp.last_change()).new_status, 'running', 'new status');
SELECT is((pg_temp.last_change()).data::jsonb,
          jsonb_build_object('id', (SELECT id FROM queuecast.phases WHERE title = 'raw'), 'status', 'running', 'worker', 'psql'),
          'update data holds only the changed columns and the key');
SELECT is((pg_temp.last_change()).old_data::jsonb, '{"status": "queued", "worker": null}'::jsonb,
          'old values of the changed columns');

SELECT is((SELECT count(*) FROM queuecast.changes), 2::bigint + 1, 'history so far');
UPDATE queuecast.phases SET status = 'running' WHERE title = 'raw';
SELECT is((SELECT count(*) FROM queuecast.changes), 3::bigint, 'an UPDATE that changes nothing records nothing');

-- moving a phase to another queue names both
INSERT INTO queuecast.queues (name) VALUES ('dml2');
UPDATE queuecast.phases SET queue = 'dml2' WHERE title = 'raw';
SELECT is((pg_temp.last_change()).topic, 'queue:dml2', 'moved phase: topic is the new queue');
SELECT is((pg_temp.last_change()).old_data::jsonb ->> 'queue', 'dml', 'moved phase: old queue in old_data');

DELETE FROM queuecast.phases WHERE title = 'raw';
SELECT is((pg_temp.last_change()).op, 'DELETE', 'plain DELETE captured');
SELECT is((pg_temp.last_change()).old_status, 'running', 'delete keeps the old status');
SELECT is((pg_temp.last_change()).data::jsonb ->> 'queue', 'dml2', 'delete names its queue');

-- a big payload is captured whole in history, unchanged values are not repeated
INSERT INTO queuecast.phases (queue, title, payload)
VALUES ('dml', 'big', jsonb_build_object('blob', repeat('x', 1000000)));
SELECT ok(length((pg_temp.last_change()).data::text) > 1000000, 'a 1 MB payload is in the insert history');
UPDATE queuecast.phases SET status = 'running' WHERE title = 'big';
SELECT ok(length((pg_temp.last_change()).data::text) < 200, 'a status update does not repeat the payload');

-- cascades are captured like any DML
DELETE FROM queuecast.queues WHERE name = 'dml';
SELECT ok(EXISTS (SELECT 1 FROM queuecast.changes WHERE op = 'DELETE' AND entity = 'queue' AND key = 'dml'),
          'deleting a queue is captured');
SELECT ok(EXISTS (SELECT 1 FROM queuecast.changes WHERE op = 'DELETE' AND entity = 'phase'
                   AND data::jsonb ->> 'queue' = 'dml'), 'its phases deleted by cascade are captured');

-- integers are printed by the capture itself (not by their output
-- functions): every width, at both ends of its range, as to_jsonb() prints it
INSERT INTO queuecast.queues (name) VALUES ('ints');
INSERT INTO queuecast.phases (queue, title) VALUES ('ints', 'before-columns');
-- a column added with a default: rows written before it read it from the
-- catalog ("missing" attributes), and it did not change
ALTER TABLE queuecast.phases ADD COLUMN small smallint, ADD COLUMN big bigint DEFAULT 5;
UPDATE queuecast.phases SET title = 'after-columns' WHERE title = 'before-columns';
SELECT is((pg_temp.last_change()).data::jsonb,
          (SELECT jsonb_build_object('id', id, 'title', 'after-columns')
           FROM queuecast.phases WHERE title = 'after-columns'),
          'a column added since the row was written is read, and is unchanged');
INSERT INTO queuecast.phases (queue, title, small, big, attempts)
VALUES ('ints', 'int-min', -32768, -9223372036854775808, 0);
SELECT is((pg_temp.last_change()).data::jsonb - 'created_at' - 'updated_at',
          (SELECT to_jsonb(p) - 'created_at' - 'updated_at' FROM queuecast.phases p WHERE title = 'int-min'),
          'smallest integers print as to_jsonb() prints them');
UPDATE queuecast.phases SET small = 32767, big = 9223372036854775807, attempts = 2147483647,
                            max_attempts = 2147483647
WHERE title = 'int-min';
SELECT is((pg_temp.last_change()).data::jsonb,
          (SELECT jsonb_build_object('id', id, 'small', small, 'big', big, 'attempts', attempts,
                                     'max_attempts', max_attempts)
           FROM queuecast.phases WHERE title = 'int-min'),
          'largest integers print as to_jsonb() prints them');
DELETE FROM queuecast.queues WHERE name = 'ints';
ALTER TABLE queuecast.phases DROP COLUMN small, DROP COLUMN big;

-- the trigger refuses to be misused
CREATE TABLE pg_temp.other (id int);
CREATE TRIGGER capture AFTER INSERT ON pg_temp.other FOR EACH ROW EXECUTE FUNCTION queuecast.capture();
SELECT throws_ok($$INSERT INTO pg_temp.other VALUES (1)$$, '0A000', NULL, 'capture refuses foreign tables');

SELECT * FROM finish();
RESET application_name;
