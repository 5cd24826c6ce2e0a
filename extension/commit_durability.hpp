// Holding the commit-order lock until the commit is visible, not until it is
// durable (docs/capture.md, "The ordering invariant — how it is kept").
//
// Under the lock, a capturing transaction commits asynchronously: its commit
// record is inserted into the WAL and it becomes visible without waiting for
// the flush. PostgreSQL then releases every lock of the transaction, ours
// included. Only after that, still inside COMMIT and before the client hears
// of it, does the backend wait for what the session's synchronous_commit
// asks: the local flush of the commit record, and the synchronous standbys.
#pragma once

namespace queuecast {

// At pre-commit, after the history is written under the lock: the commit
// record is not to be waited for inside RecordTransactionCommit.
void defer_commit_wait();

// Registers the callbacks that restore the setting and wait; once from _PG_init.
void register_commit_durability_callbacks();

}  // namespace queuecast
