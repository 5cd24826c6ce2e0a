// Keeping DESIGN.md's ordering invariant: seq order is commit order, and a
// visible seq implies every smaller seq is final.
//
// History rows are written at pre-commit (XACT_EVENT_PRE_COMMIT, after every
// deferred trigger has fired) from the transaction's buffer (recorder). The
// writer first takes the commit-order lock (commit_lock), let go only once
// the commit is visible to others, so the next committer draws its seq
// numbers strictly after ours are visible. The commit then waits for its WAL
// flush after the lock is gone (commit_durability).
#pragma once

#include <cstdint>

#include "pg.hpp"

namespace queuecast {

// Takes the commit-order lock once per transaction that writes history (at
// pre-commit, so always in the top-level transaction), and stamps the
// transaction's commit time. May throw pg_error.
void enter_commit_order();

// The time at which this transaction entered the commit order (UTC).
TimestampTz commit_timestamp();

// Records a written change's seq for the transaction's NOTIFY.
void remember_for_notify(std::int64_t seq);

// Registers the transaction callbacks; called once from _PG_init.
void register_commit_order_callbacks();

}  // namespace queuecast
