// Recording captured changes in commit order.
//
// A row change is recorded when its deferred trigger event fires (at COMMIT,
// or at the end of its statement under SET CONSTRAINTS ALL IMMEDIATE). A
// TRUNCATE fires a statement trigger that cannot be deferred, so it is kept
// in backend memory and written just before the transaction's first row
// change is recorded, or at pre-commit. That order is the statement order:
// PostgreSQL refuses to TRUNCATE a table with pending (deferred) trigger
// events, and row events fired before the TRUNCATE were recorded already.
// Nothing here runs SQL: no query, no SPI, nothing as another role.
#pragma once

#include "change.hpp"
#include "pg.hpp"
#include "row_change.hpp"

namespace queuecast {

// Enters the commit order, draws the seq, writes the history row and
// remembers the seq for the transaction's doorbell. Writes any pending
// TRUNCATE first. May throw.
void record(const change& c);

// Keeps the TRUNCATE of one captured table for the commit.
void remember_truncate(entity_kind entity);

// Writes the pending TRUNCATEs; called at pre-commit. May throw.
void flush_truncates();

bool has_pending_truncates();

// Savepoints: an aborted subtransaction takes its TRUNCATEs with it, and a
// TRUNCATE whose history row was written inside it must be written again.
void truncates_subxact_aborted(SubTransactionId sub);
void truncates_subxact_committed(SubTransactionId sub, SubTransactionId parent);
void forget_truncates();

}  // namespace queuecast
