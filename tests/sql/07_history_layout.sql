-- The capture finds the history's columns by name: a site may add nullable
-- columns of its own, and a table it cannot fill safely is refused with a
-- clear error (SQLSTATE XX001) instead of writing corrupt rows.
BEGIN;
SELECT plan(8);
SET CONSTRAINTS ALL IMMEDIATE;
SELECT queuecast.create_queue('layout');

ALTER TABLE queuecast.changes ADD COLUMN site_note text;
SELECT lives_ok($$SELECT queuecast.enqueue('layout', 'with a site column')$$,
                'capture works with a column a site added');
SELECT is((SELECT data->>'title' FROM queuecast.changes ORDER BY seq DESC LIMIT 1), 'with a site column',
          'the row is written into the right columns');
SELECT is((SELECT site_note FROM queuecast.changes ORDER BY seq DESC LIMIT 1), NULL,
          'the site column is left null');

SAVEPOINT not_null;
ALTER TABLE queuecast.changes ADD COLUMN must_have text NOT NULL DEFAULT 'x';
SELECT throws_ok($$SELECT queuecast.enqueue('layout', 'x')$$, 'XX001',
                 'queuecast: table queuecast.changes has a NOT NULL column the capture cannot fill: "must_have"',
                 'a NOT NULL column the capture cannot fill is refused');
ROLLBACK TO SAVEPOINT not_null;

SAVEPOINT retyped;
ALTER TABLE queuecast.changes ALTER COLUMN key TYPE varchar(20);
SELECT throws_ok($$SELECT queuecast.enqueue('layout', 'x')$$, 'XX001',
                 'queuecast: table queuecast.changes has a changed type in column "key"',
                 'a column of another type is refused');
ROLLBACK TO SAVEPOINT retyped;

SAVEPOINT dropped;
ALTER TABLE queuecast.changes DROP COLUMN application_name;
SELECT throws_ok($$SELECT queuecast.enqueue('layout', 'x')$$, 'XX001',
                 'queuecast: table queuecast.changes is missing column "application_name"',
                 'a missing column is refused');
ROLLBACK TO SAVEPOINT dropped;

-- A dropped column leaves a hole in the attribute numbers; what follows it
-- must still land in the right place.
ALTER TABLE queuecast.changes DROP COLUMN site_note;
ALTER TABLE queuecast.changes ADD COLUMN site_note2 integer;
SELECT lives_ok($$SELECT queuecast.enqueue('layout', 'after a dropped column')$$,
                'capture works after a column was dropped');
SELECT is((SELECT data->>'title' || ' ' || role_name FROM queuecast.changes ORDER BY seq DESC LIMIT 1),
          'after a dropped column ' || current_user, 'and writes the right columns');

SELECT * FROM finish();
ROLLBACK;
