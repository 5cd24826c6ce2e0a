// Writing history rows into queuecast.changes.
//
// A row is prepared (JSON parsed into jsonb, texts built) before the caller
// enters the commit order, and only drawing the seq and inserting happen
// inside it: everything in between is serialised across all writers.
#pragma once

#include <cstdint>

#include "change.hpp"
#include "pg.hpp"

namespace queuecast {

constexpr int history_columns = 13;

// The column values of one history row, in queuecast.changes column order.
struct history_row {
  Datum values[history_columns];
  bool nulls[history_columns];
};

// Builds the row for c (without seq and committed_at). May throw pg_error.
void prepare_history_row(const change& c, history_row& row);

// Draws the next seq, stamps the commit time and inserts the row directly
// into the heap and its indexes (no SPI, no executor: this runs under the
// commit-order lock). Returns the seq. May throw pg_error.
std::int64_t insert_history_row(history_row& row);

// Records a TRUNCATE of relation `relname` as a marker row, whose deferred
// trigger writes the history row at commit. May throw.
void queue_truncate_marker(const char* relname);

// Deletes the marker row that carried a TRUNCATE to commit time. May throw.
void delete_truncate_marker(ItemPointer tid);

}  // namespace queuecast
