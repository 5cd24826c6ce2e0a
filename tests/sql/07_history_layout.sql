-- The capture finds the history's columns by name: a site may add nullable
-- columns of its own, and a table it cannot fill safely is refused with a
-- clear error (SQLSTATE XX001) instead of writing corrupt rows.
-- History is written at commit, so the refusal is COMMIT's error: each bad
-- layout is made in a transaction whose COMMIT then fails (undoing it), and
-- psql's LAST_ERROR_* variables say what the COMMIT reported.
SELECT plan(8);
SELECT queuecast.create_queue('layout');

ALTER TABLE queuecast.changes ADD COLUMN site_note text;
SELECT lives_ok($$SELECT queuecast.enqueue('layout', 'with a site column')$$,
                'capture works with a column a site added');
SELECT is((SELECT data->>'title' FROM queuecast.changes ORDER BY seq DESC LIMIT 1), 'with a site column',
          'the row is written into the right columns');
SELECT is((SELECT site_note FROM queuecast.changes ORDER BY seq DESC LIMIT 1), NULL,
          'the site column is left null');

BEGIN;
ALTER TABLE queuecast.changes ADD COLUMN must_have text NOT NULL DEFAULT 'x';
SELECT queuecast.enqueue('layout', 'x');
\set ON_ERROR_STOP 0
COMMIT;
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE' || ' ' || :'LAST_ERROR_MESSAGE',
          'XX001 queuecast: table queuecast.changes has a NOT NULL column the capture cannot fill: "must_have"',
          'a NOT NULL column the capture cannot fill is refused');

BEGIN;
ALTER TABLE queuecast.changes ALTER COLUMN key TYPE varchar(20);
SELECT queuecast.enqueue('layout', 'x');
\set ON_ERROR_STOP 0
COMMIT;
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE' || ' ' || :'LAST_ERROR_MESSAGE',
          'XX001 queuecast: table queuecast.changes has a changed type in column "key"',
          'a column of another type is refused');

BEGIN;
ALTER TABLE queuecast.changes DROP COLUMN application_name;
SELECT queuecast.enqueue('layout', 'x');
\set ON_ERROR_STOP 0
COMMIT;
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE' || ' ' || :'LAST_ERROR_MESSAGE',
          'XX001 queuecast: table queuecast.changes is missing column "application_name"',
          'a missing column is refused');

-- A dropped column leaves a hole in the attribute numbers; what follows it
-- must still land in the right place.
ALTER TABLE queuecast.changes DROP COLUMN site_note;
ALTER TABLE queuecast.changes ADD COLUMN site_note2 integer;
SELECT lives_ok($$SELECT queuecast.enqueue('layout', 'after a dropped column')$$,
                'capture works after a column was dropped');
SELECT is((SELECT data->>'title' || ' ' || role_name FROM queuecast.changes ORDER BY seq DESC LIMIT 1),
          'after a dropped column ' || current_user, 'and writes the right columns');

SELECT * FROM finish();
ALTER TABLE queuecast.changes DROP COLUMN site_note2;
