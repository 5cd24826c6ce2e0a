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

// Takes, before the caller enters the commit order, every relation lock an
// insert takes: queuecast.changes, its indexes and the seq sequence (its
// TOAST table is locked exclusively only by what locks the history first).
// Inside the commit order they are then already held, so a writer holding
// the commit-order lock never waits for a table lock (say behind LOCK TABLE
// queuecast.changes): such a wait happens before it takes the lock, where
// PostgreSQL's deadlock detector and lock_timeout see it. May throw pg_error.
void lock_history_relations();

// Builds the row for c (without seq and committed_at). May throw pg_error.
void prepare_history_row(const change& c, history_row& row);

// Draws the next seq, stamps the commit time and inserts the row directly
// into the heap and its indexes (no SPI, no executor: this runs under the
// commit-order lock). Returns the seq. May throw pg_error.
std::int64_t insert_history_row(history_row& row);

// Drops the cached column layout when queuecast.changes changes; once from _PG_init.
void register_history_layout_invalidation();

}  // namespace queuecast
