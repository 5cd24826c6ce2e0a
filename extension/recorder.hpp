// Recording captured changes: described in the trigger, written at pre-commit.
//
// A row or TRUNCATE trigger only describes its change and appends the
// prepared history row to the transaction's buffer, in the order the events
// fire (statement order). Nothing is written and no lock is taken while the
// transaction runs, whatever SET CONSTRAINTS says. At XACT_EVENT_PRE_COMMIT,
// after every deferred trigger has fired, write_buffered() enters the commit
// order and writes the whole buffer.
//
// Savepoints: a buffered row lives in the memory of the subtransaction that
// made it (CurTransactionContext). PostgreSQL frees that memory when the
// subtransaction rolls back, and keeps it, for the parent, when it commits;
// the buffer forgets a rolled-back subtransaction's part in the same way.
// Nothing here runs SQL: no query, no SPI, nothing as another role.
#pragma once

#include <cstddef>

#include "change.hpp"
#include "pg.hpp"

namespace queuecast {

// Prepares the history row of c and appends it to the buffer. May throw.
void buffer_change(const change& c);

// How many changes the buffer holds (0: the transaction wrote no history).
std::size_t buffered_changes();

// Enters the commit order and writes every buffered row, remembering each
// seq for the doorbell; called at pre-commit. May throw.
void write_buffered();

// Subtransaction ends (level: the ending subtransaction's nesting level) and
// the end of the transaction.
void buffer_subxact_aborted(int level);
void buffer_subxact_committed(int level);
void forget_buffer();

}  // namespace queuecast
