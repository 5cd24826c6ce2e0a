// Writing history rows into queuecast.changes.
#pragma once

#include <cstdint>

#include "change.hpp"
#include "pg.hpp"

namespace queuecast {

// Draws the next seq and inserts the history row of c. Must be called inside
// the commit order (after enter_commit_order). Runs as the owner of
// queuecast.changes, so writers need no privilege on the history itself;
// role_name still records who wrote. Returns the seq. May throw.
std::int64_t write_history(const change& c);

// Records a TRUNCATE of relation `relname` as a marker row, whose deferred
// trigger writes the history row at commit. May throw.
void queue_truncate_marker(const char* relname);

// Deletes the marker row that carried a TRUNCATE to commit time. May throw.
void delete_truncate_marker(ItemPointer tid);

}  // namespace queuecast
