// The commit-order lock itself; commit_order.hpp says what it orders.
//
// Preloaded (shared_preload_libraries = 'queuecast'), it is a lock of our own
// in shared memory: a word that whoever runs first takes with one
// compare-and-swap, and a ConditionVariable its waiters sleep on. A release
// wakes one sleeper, which must take the word like everyone else; it is never
// handed the lock while it is not running. PostgreSQL's lock manager does
// hand its locks over, and with more writers than cores the lock then sat
// idle while its new owner waited for a CPU (docs/capture.md, "Waiting for
// the lock").
//
// Without preloading there is no shared memory of ours: the lock is a
// transaction-level advisory lock in PostgreSQL's lock manager, as before.
//
// Preloaded, the holder also counts what the lock costs (takes, waits, time
// waited and held), for queuecast.commit_order_stats(); the advisory lock
// keeps no such figures.
//
// Either way the holder never waits for a heavyweight lock while holding it
// (the history's relations are locked first, history_writer.hpp), so it takes
// no part in a deadlock PostgreSQL could not see, and a waiter can always be
// cancelled and obeys lock_timeout.
#pragma once

#include "pg.hpp"

namespace queuecast::commit_lock {

// Defines queuecast.commit_lock_spin and, while the library is being
// preloaded, installs the shared-memory hooks; once from _PG_init.
void init();

// Takes the lock for the current transaction and returns the time at which
// it was taken. May raise an ERROR (cancel, lock_timeout): call it inside
// pg_call.
TimestampTz acquire();

// Lets the shared-memory lock go if this backend holds it: once the commit
// is visible, or when the transaction aborts. Never raises an ERROR. The
// advisory lock goes with the transaction's other locks.
void release();

}  // namespace queuecast::commit_lock
