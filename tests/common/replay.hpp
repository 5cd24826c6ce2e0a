// Replaying the history from empty tables, the way docs/capture.md tells a
// reader to: for each row in seq order, TRUNCATE empties its table, DELETE
// removes the key, INSERT/UPDATE merge `data` into the row. If the result
// differs from the real tables, the history is missing, reordering or
// misdescribing a change. Shared by the invariant and crash tests.
#pragma once

#include <string>

#include "../extension/pg_session.hpp"

namespace qc_test {

// Fills the temp tables r_queues, r_workflows and r_phases of the session.
inline const char* replay_sql = R"SQL(
CREATE TEMP TABLE r_queues (LIKE queuecast.queues);
CREATE TEMP TABLE r_workflows (LIKE queuecast.workflows);
CREATE TEMP TABLE r_phases (LIKE queuecast.phases);
DO $$
DECLARE
    c queuecast.changes;
    tbl text;
    keycol text;
    cur jsonb;
BEGIN
    FOR c IN SELECT * FROM queuecast.changes ORDER BY seq LOOP
        tbl := CASE c.entity WHEN 'phase' THEN 'r_phases' WHEN 'workflow' THEN 'r_workflows' ELSE 'r_queues' END;
        keycol := CASE c.entity WHEN 'queue' THEN 'name' ELSE 'id' END;
        IF c.op = 'TRUNCATE' THEN
            EXECUTE format('TRUNCATE %I', tbl);
            CONTINUE;
        END IF;
        EXECUTE format('SELECT to_jsonb(t) FROM %I t WHERE %I::text = $1', tbl, keycol) INTO cur USING c.key;
        EXECUTE format('DELETE FROM %I WHERE %I::text = $1', tbl, keycol) USING c.key;
        IF c.op <> 'DELETE' THEN
            EXECUTE format('INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1)', tbl, tbl)
                USING coalesce(cur, '{}'::jsonb) || c.data::jsonb;
        END IF;
    END LOOP;
END $$;
)SQL";

// Rows in exactly one of queuecast.TABLE and the replayed copy REPLICA.
inline long long replay_differences(pg_session& db, const std::string& table,
                                    const std::string& replica) {
  return db.number("SELECT count(*) FROM ((SELECT to_jsonb(t) FROM queuecast." + table +
                   " t EXCEPT SELECT to_jsonb(r) FROM " + replica +
                   " r) UNION ALL (SELECT to_jsonb(r) FROM " + replica +
                   " r EXCEPT SELECT to_jsonb(t) FROM queuecast." + table + " t)) d");
}

}  // namespace qc_test
