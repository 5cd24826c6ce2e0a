#include "commit_durability.hpp"

#include "pg.hpp"

extern "C" {
#include "access/xlog.h"
#include "replication/syncrep.h"
#include "utils/resowner.h"
}

namespace queuecast {

namespace {

// What the transaction's synchronous_commit was before defer_commit_wait
// turned it off; -1: nothing deferred.
int deferred_setting = -1;
// Set once the commit is visible (XACT_EVENT_COMMIT); the wait happens after
// PostgreSQL has released the transaction's locks.
bool wait_pending = false;

void restore_setting() {
  if (deferred_setting < 0) return;
  synchronous_commit = deferred_setting;
  deferred_setting = -1;
}

void on_xact(XactEvent event, void*) {
  switch (event) {
    case XACT_EVENT_COMMIT:
      // RecordTransactionCommit has run and ProcArrayEndTransaction made the
      // commit visible; locks are released next (RESOURCE_RELEASE_LOCKS).
      wait_pending = deferred_setting >= 0;
      restore_setting();
      break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PREPARE:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PARALLEL_ABORT:
      wait_pending = false;
      restore_setting();
      break;
    default:
      break;
  }
}

// Called for every resource owner PostgreSQL releases. The first call of the
// AFTER_LOCKS phase of a top-level commit comes after ProcReleaseLocks, still
// inside CommitTransaction with interrupts held (as RecordTransactionCommit's
// own waits are): the client has not been told of the commit yet.
void on_resource_release(ResourceReleasePhase phase, bool is_commit, bool is_top_level, void*) {
  if (!wait_pending || phase != RESOURCE_RELEASE_AFTER_LOCKS || !is_commit || !is_top_level) return;
  wait_pending = false;
  // The local flush, as a synchronous commit does. WAL is written in order,
  // so this also makes every earlier commit record (every smaller seq) durable.
  XLogFlush(XactLastCommitEnd);
  // The standbys, if this session's setting and synchronous_standby_names ask
  // for them. SyncRepWaitForLSN reads synchronous_commit (restored above) and
  // the wait mode its assign hook derived from it, which defer_commit_wait
  // never changed. A cancel ends this wait with PostgreSQL's own warning that
  // the commit may not have reached the standby, as in a plain commit.
  SyncRepWaitForLSN(XactLastCommitEnd, true);
}

}  // namespace

void defer_commit_wait() {
  // Off already: nothing to wait for. A transaction that also dropped a
  // relation or must commit synchronously for another reason
  // (forceSyncCommit) still flushes inside RecordTransactionCommit, under
  // the lock: slower, never weaker.
  if (synchronous_commit <= SYNCHRONOUS_COMMIT_OFF || deferred_setting >= 0) return;
  // The variable RecordTransactionCommit reads, set directly rather than
  // through the GUC machinery: no one can observe it before COMMIT restores it,
  // and SyncRepWaitMode (derived by the GUC's assign hook) keeps the session's mode.
  deferred_setting = synchronous_commit;
  synchronous_commit = SYNCHRONOUS_COMMIT_OFF;
}

void register_commit_durability_callbacks() {
  RegisterXactCallback(on_xact, nullptr);
  RegisterResourceReleaseCallback(on_resource_release, nullptr);
}

}  // namespace queuecast
