#include "commit_order.hpp"

#include "commit_durability.hpp"
#include "commit_lock.hpp"
#include "doorbell.hpp"
#include "notify_payload.hpp"
#include "pg_boundary.hpp"
#include "recorder.hpp"

namespace queuecast {

namespace {

// Per-transaction state, reset when the transaction ends.
struct transaction_state {
  bool locked = false;
  TimestampTz stamped_at = 0;
  notify_payload payload;
  bool worker_rings = false;  // the doorbell worker NOTIFYs after our commit
};
transaction_state state;

void reset() {
  commit_lock::release();
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
      // The commit is visible (ProcArrayEndTransaction has run): the next
      // writer may draw its seqs.
      commit_lock::release();
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

}  // namespace

void enter_commit_order() {
  if (state.locked) return;
  // Stamped under the lock, so committed_at never decreases along seq.
  state.stamped_at = pg_call([] { return commit_lock::acquire(); });
  state.locked = true;
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
