#include "commit_order.hpp"

#include <sched.h>

#include "commit_durability.hpp"
#include "doorbell.hpp"
#include "notify_payload.hpp"
#include "pg_boundary.hpp"
#include "recorder.hpp"

namespace queuecast {

namespace {

// The advisory locktag of the commit order: (database, 'qcas', 0, 'QC').
// field4 0x5143 is outside the values pg_advisory_lock() uses (1 and 2), so
// no application lock can collide with it; pg_locks shows it as advisory.
constexpr uint32 lock_key = 0x71636173;
constexpr uint16 lock_class = 0x5143;
// How long a waiter retries before it sleeps in the lock manager. A sleeper
// is handed the lock when it is released, and holds it until the scheduler
// runs it: with more writers than cores that can be a whole time slice, with
// the lock idle and everyone else waiting (measured with 16 writers on 2
// cores: the lock held a third of the time, waits of 1.2 ms). A retrying
// waiter takes the lock only when it runs. 200 tries, the first version,
// slept after about 0.3 ms; retrying up to 20 ms raised capture/bare at 16
// clients, synchronous_commit off, from 0.46 to 0.65 (four pairs each,
// alternating builds; docs/capture.md). A holder that stalls costs each
// waiter at most this much CPU before it sleeps.
constexpr long commit_lock_spin_us = 20000;

// Per-transaction state, reset when the transaction ends.
struct transaction_state {
  bool locked = false;
  TimestampTz stamped_at = 0;
  notify_payload payload;
  bool worker_rings = false;  // the doorbell worker NOTIFYs after our commit
};
transaction_state state;

void reset() {
  state.locked = false;
  state.stamped_at = 0;
  state.payload.clear();
  state.worker_rings = false;
  forget_buffer();
}

// Sends the doorbell; at most once per transaction, just before commit.
void send_notify() {
  if (state.payload.empty()) return;
  if (doorbell_worker_rings()) {
    state.worker_rings = true;
    return;
  }
  // TimestampTz counts microseconds from 2000-01-01; the payload uses the Unix epoch.
  std::int64_t unix_us =
      state.stamped_at + (std::int64_t)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
  std::string text = state.payload.render(unix_us);
  const char* payload = text.c_str();
  pg_call([&] { Async_Notify("queuecast", payload); });
}

// Every deferred trigger has fired (CommitTransaction runs them before the
// PRE_COMMIT callbacks), so the buffer holds every change of the transaction.
Datum pre_commit() {
  if (buffered_changes() == 0) return 0;
  write_buffered();  // takes the lock
  send_notify();
  defer_commit_wait();  // last: nothing after it here can fail
  return 0;
}

void on_xact(XactEvent event, void*) {
  switch (event) {
    case XACT_EVENT_PRE_COMMIT:
      run_guarded(pre_commit);
      break;
    case XACT_EVENT_PRE_PREPARE:
      if (buffered_changes() > 0) {
        // History is written at commit, and NOTIFY cannot be prepared: a
        // prepared transaction would hold the commit-order lock until COMMIT
        // PREPARED and stall every writer.
        ereport(ERROR,
                (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                 errmsg("queuecast: cannot PREPARE a transaction that changed queuecast tables"),
                 errhint("Commit it directly; queuecast writes history and notifies at commit.")));
      }
      break;
    case XACT_EVENT_COMMIT:
      if (state.worker_rings) doorbell_committed(state.payload.range(), state.stamped_at);
      reset();
      break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PREPARE:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PARALLEL_ABORT:
      reset();
      break;
    default:
      break;
  }
}

// The callbacks run before PostgreSQL pops the subtransaction, so the nesting
// level is the ending subtransaction's.
void on_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    buffer_subxact_aborted(GetCurrentTransactionNestLevel());
  } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
    buffer_subxact_committed(GetCurrentTransactionNestLevel());
  }
}

// The lock is held only for the last few microseconds of a commit. A waiter
// that sleeps in the lock manager must be woken by a signal and is handed
// the lock before it runs (commit_lock_spin_us); so first retry without
// waiting, giving the CPU to the holder between tries, and only then queue
// up and sleep.
void acquire_commit_lock(const LOCKTAG* tag) {
  TimestampTz give_up = 0;
  for (int attempt = 0;; ++attempt) {
    if (LockAcquire(tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL) return;
    CHECK_FOR_INTERRUPTS();
    if (attempt % 16 == 0) {  // the clock every few tries: it costs more than a try
      TimestampTz now = GetCurrentTimestamp();
      if (give_up == 0) give_up = now + commit_lock_spin_us;
      if (now >= give_up) break;
    }
    sched_yield();
  }
  (void)LockAcquire(tag, ExclusiveLock, false, false);
}

}  // namespace

void enter_commit_order() {
  if (state.locked) return;
  pg_call([] {
    LOCKTAG tag;
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, lock_key, 0, lock_class);
    acquire_commit_lock(&tag);
  });
  state.locked = true;
  // Stamped under the lock, so committed_at never decreases along seq.
  state.stamped_at = GetCurrentTimestamp();
}

TimestampTz commit_timestamp() {
  return state.stamped_at;
}

void remember_for_notify(std::int64_t seq) {
  state.payload.add(GetCurrentSubTransactionId(), seq);
}

void register_commit_order_callbacks() {
  RegisterXactCallback(on_xact, nullptr);
  RegisterSubXactCallback(on_subxact, nullptr);
  register_commit_durability_callbacks();
}

}  // namespace queuecast
