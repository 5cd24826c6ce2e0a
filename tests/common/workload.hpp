// The random workload shared by the invariant and chaos tests: API calls and
// plain DML over queues q0..q2, now and then a TRUNCATE, in random
// transactions with savepoints, aborts and all three isolation levels.
// TRUNCATE needs the TRUNCATE privilege, which no queuecast role has: the
// workload runs as the harness's superuser (PGUSER=postgres).
#pragma once

#include <atomic>
#include <functional>
#include <random>
#include <string>

#include "../extension/pg_session.hpp"

namespace qc_test {

// A TRUNCATE, one statement in about 30: rare enough that the tables fill
// up again in between. The capture's triggers fire at the end of each
// statement (the history is written at pre-commit), so a TRUNCATE after DML
// in the same transaction is allowed; the third form does exactly that.
inline std::string random_truncate(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return "TRUNCATE queuecast.phases";
    case 1:
      return "TRUNCATE queuecast.workflows CASCADE";  // and phases (workflow_id FK)
    case 2:
      // DML, TRUNCATE and DML again in one transaction, written in that order.
      return "SELECT queuecast.enqueue('q0', 'gone'); "
             "TRUNCATE queuecast.phases; SELECT queuecast.enqueue('q1', 'after truncate')";
    default:
      // Every queue comes back in the same transaction, so their topics live
      // on (a daemon applies the transaction as one reset of each topic). A
      // queue that stays deleted would end its subscriptions (topic_deleted),
      // which the chaos test's subscribers rightly count as a failure; tests
      // that run the workload next to queues of their own keep them too.
      // TRUNCATE is not MVCC-safe: a REPEATABLE READ or SERIALIZABLE
      // transaction whose snapshot predates another one's TRUNCATE of
      // queues finds the table empty, and would delete every queue for
      // good. It gives up as a serialization failure instead.
      return "DO $$ DECLARE names text[]; BEGIN "
             "SELECT array_agg(name) INTO names FROM queuecast.queues; "
             "IF names IS NULL THEN RAISE EXCEPTION 'no queue visible to this snapshot' "
             "USING ERRCODE = 'serialization_failure'; END IF; "
             "TRUNCATE queuecast.queues CASCADE; "
             "PERFORM queuecast.create_queue(n) FROM unnest(names) n; END $$";
  }
}

// One random statement of the workload; ids are picked among existing rows.
inline std::string random_statement(std::mt19937_64& rng, int writer) {
  if (rng() % 30 == 0) return random_truncate(rng);
  const std::string queue = "'q" + std::to_string(rng() % 3) + "'";
  const std::string some_phase = "(SELECT id FROM queuecast.phases ORDER BY random() LIMIT 1)";
  switch (rng() % 10) {
    case 0:
      return "SELECT queuecast.enqueue(" + queue + ", 'w" + std::to_string(writer) + "', '{}', " +
             std::to_string(rng() % 5) + ")";
    case 1:
      return "SELECT queuecast.complete(id) FROM queuecast.claim(" + queue + ", 'worker" +
             std::to_string(writer) + "')";
    case 2:
      return "SELECT queuecast.fail(id, 'boom') FROM queuecast.claim(" + queue + ", 'w')";
    case 3:
      return "INSERT INTO queuecast.phases (queue, title, priority) VALUES (" + queue +
             ", 'dml', " + std::to_string(rng() % 9) + ")";
    case 4:
      return "UPDATE queuecast.phases SET status = 'blocked', worker = 'dml' WHERE id = " +
             some_phase;
    case 5:
      return "DELETE FROM queuecast.phases WHERE id = " + some_phase;
    case 6:
      return (rng() % 2 ? "SELECT queuecast.pause(" : "SELECT queuecast.resume(") + queue + ")";
    case 7:
      return "SELECT queuecast.create_workflow(" + queue + ", 'wf', ARRAY['a', 'b'])";
    case 8:
      return "UPDATE queuecast.phases SET priority = priority + 1 WHERE queue = " + queue +
             " AND id % 7 = " + std::to_string(rng() % 7);
    default:
      return "UPDATE queuecast.workflows SET status = 'paused' WHERE id = "
             "(SELECT id FROM queuecast.workflows ORDER BY random() LIMIT 1)";
  }
}

// Runs one random transaction; errors from the workload itself (illegal
// transitions, serialization failures, deadlocks) just roll it back. A lost
// connection throws (pg_session::exec). after_begin, if not empty, runs
// first in every transaction (e.g. SET CONSTRAINTS ALL IMMEDIATE).
inline void run_transaction(pg_session& db, std::mt19937_64& rng, int writer,
                            std::atomic<int>& commits, const std::string& after_begin = {}) {
  const char* isolation[] = {"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"};
  db.exec(std::string("BEGIN ISOLATION LEVEL ") + isolation[rng() % 3]);
  if (!after_begin.empty()) db.exec(after_begin);
  bool failed = false;
  int statements = 1 + static_cast<int>(rng() % 4);
  for (int s = 0; s < statements && !failed; ++s) {
    bool savepoint = rng() % 4 == 0;
    if (savepoint) db.exec("SAVEPOINT sp");
    failed = !db.exec_sqlstate(random_statement(rng, writer)).empty();
    if (savepoint && (failed || rng() % 2 == 0)) {
      db.exec("ROLLBACK TO SAVEPOINT sp");
      failed = false;
    }
  }
  if (failed || rng() % 5 == 0) {
    db.exec("ROLLBACK");
  } else if (db.exec_sqlstate("COMMIT").empty()) {
    commits++;
  }
}

}  // namespace qc_test
