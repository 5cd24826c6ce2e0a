// The random workload shared by the invariant and chaos tests: API calls and
// plain DML over queues q0..q2, in random transactions with savepoints,
// aborts and all three isolation levels.
#pragma once

#include <atomic>
#include <functional>
#include <random>
#include <string>

#include "../extension/pg_session.hpp"

namespace qc_test {

// One random statement of the workload; ids are picked among existing rows.
inline std::string random_statement(std::mt19937_64& rng, int writer) {
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
// connection throws (pg_session::exec).
inline void run_transaction(pg_session& db, std::mt19937_64& rng, int writer,
                            std::atomic<int>& commits) {
  const char* isolation[] = {"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"};
  db.exec(std::string("BEGIN ISOLATION LEVEL ") + isolation[rng() % 3]);
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
