// Writing history rows into queuecast.changes.
//
// A row is prepared (texts built) before the caller enters the commit order,
// and only drawing the seq and inserting happen inside it: everything in
// between is serialised across all writers.
#pragma once

#include <cstdint>

#include "change.hpp"
#include "pg.hpp"

namespace queuecast {

// The columns the capture fills, found by name in queuecast.changes (a site
// may have added nullable columns of its own; the order does not matter).
enum history_column {
  col_seq,
  col_topic,
  col_entity,
  col_key,
  col_op,
  col_old_status,
  col_new_status,
  col_data,
  col_old_data,
  col_txid,
  col_committed_at,
  col_role_name,
  col_application_name,
  history_columns
};

// The values of one history row, by history_column.
struct history_row {
  Datum values[history_columns];
  bool nulls[history_columns];
};

// Builds the row for c (without seq and committed_at). May throw pg_error.
void prepare_history_row(const change& c, history_row& row);

struct history_target;

// One transaction's writes into queuecast.changes.
//
// Constructed before the caller enters the commit order: it opens the
// history and its indexes and locks them and the seq sequence, which are
// every relation lock an insert takes. Inside the commit order they are then
// already held, so a writer holding the commit-order lock never waits for a
// table lock (say behind LOCK TABLE queuecast.changes): such a wait happens
// before it takes the lock, where PostgreSQL's deadlock detector and
// lock_timeout see it. The relations are opened once per transaction, not
// per row, which keeps the work inside the commit order short.
//
// insert() draws the next seq, stamps the commit time and inserts the row
// directly into the heap and its indexes (no SPI, no executor): this runs
// under the commit-order lock. close() after the last row. If an error
// interrupts the writes, the transaction aborts and PostgreSQL releases what
// was opened; the destructor deliberately does nothing (it may run while an
// exception unwinds, where no PostgreSQL call is allowed).
class history_writer {
 public:
  history_writer();  // may throw pg_error
  history_writer(const history_writer&) = delete;
  history_writer& operator=(const history_writer&) = delete;

  // Returns the row's seq. May throw pg_error.
  std::int64_t insert(history_row& row);
  // May throw pg_error.
  void close();

 private:
  history_target* target_;  // palloc'd in the transaction's memory
};

// Drops the cached column layout when queuecast.changes changes; once from _PG_init.
void register_history_layout_invalidation();

}  // namespace queuecast
