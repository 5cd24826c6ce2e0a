#include "commit_lock.hpp"

#include <sched.h>

#include <algorithm>

extern "C" {
#include "funcapi.h"
#include "port/atomics.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "storage/condition_variable.h"
#include "utils/wait_event.h"
}

namespace queuecast::commit_lock {

namespace {

// --- settings ----------------------------------------------------------------

// How long a waiter retries (giving its CPU away between tries) before it
// sleeps. Microseconds; docs/capture.md has the measurements behind the
// default.
int spin_us = 20000;

void define_setting() {
  DefineCustomIntVariable(
      "queuecast.commit_lock_spin",
      "How long a writer retries the commit-order lock before it sleeps (microseconds).",
      "Retrying costs a waiter CPU; sleeping costs it a wake-up. 0 sleeps at once.", &spin_us,
      spin_us, 0, 1000000, PGC_SUSET, 0, nullptr, nullptr, nullptr);
}

// --- the advisory lock (not preloaded) ----------------------------------------

// The advisory locktag of the commit order: (database, 'qcas', 0, 'QC').
// field4 0x5143 is outside the values pg_advisory_lock() uses (1 and 2), so
// no application lock can collide with it; pg_locks shows it as advisory,
// and queuecast.commit_order_holder() looks for it there.
constexpr uint32 lock_key = 0x71636173;
constexpr uint16 lock_class = 0x5143;

// A sleeper in the lock manager is handed the lock when it is released and
// holds it until the scheduler runs it: with more writers than cores that
// can be a whole time slice with the lock idle and everyone else waiting.
// A retrying waiter takes the lock only when it runs, so retry first.
void acquire_advisory() {
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, lock_key, 0, lock_class);
  TimestampTz give_up = 0;
  for (int attempt = 0;; ++attempt) {
    if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL) return;
    CHECK_FOR_INTERRUPTS();
    if (attempt % 16 == 0) {  // the clock every few tries: it costs more than a try
      TimestampTz now = GetCurrentTimestamp();
      if (give_up == 0) give_up = now + spin_us;
      if (now >= give_up) break;
    }
    sched_yield();
  }
  (void)LockAcquire(&tag, ExclusiveLock, false, false);
}

// --- the lock in shared memory (preloaded) --------------------------------

// One lock per database would need a table of databases; a fixed array
// indexed by the database's OID modulo its size needs none. Databases created
// one after the other get consecutive OIDs and so different slots; two
// databases that share a slot only serialise each other's commits, which
// keeps each one's order.
constexpr int slot_count = 128;

struct alignas(PG_CACHE_LINE_SIZE) slot {
  pg_atomic_uint32 taken;    // 1 while a backend holds it
  pg_atomic_uint32 waiters;  // backends inside acquire() that do not hold it yet
  // For queuecast.commit_order_holder(): written by the holder after it
  // took the lock, cleared before it lets go. Read without the lock: a
  // reader may see a holder that has just gone, never an invented one.
  pg_atomic_uint32 holder_pid;
  pg_atomic_uint32 holder_database;
  pg_atomic_uint64 held_since;  // TimestampTz
  ConditionVariable released;   // waiters sleep on it; a release wakes one
  // Cumulative figures for queuecast.commit_order_stats(), from shared
  // memory's creation (server start) on. Only the holder writes them, so a
  // read followed by a write adds without a locked instruction; a reader may
  // see one holder's additions half made.
  pg_atomic_uint64 counting_since;  // TimestampTz
  pg_atomic_uint64 acquisitions;
  pg_atomic_uint64 contended;   // acquisitions that found the lock taken
  pg_atomic_uint64 waited_us;   // how long those waited, in all
  pg_atomic_uint64 held_us;     // how long the lock was held, in all
  pg_atomic_uint64 long_holds;  // holds of long_hold_us or more
};

// A hold this long is counted apart: a whole time slice of the scheduler, or
// a holder waiting for I/O or a lock, rather than a commit's own work.
constexpr uint64 long_hold_us = 1000;

slot* slots = nullptr;
slot* held = nullptr;     // the slot this backend holds, if any
TimestampTz held_at = 0;  // when it took it
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

void request_hook() {
  if (previous_request_hook) previous_request_hook();
  RequestAddinShmemSpace(sizeof(slot) * slot_count + PG_CACHE_LINE_SIZE);
}

void startup_hook() {
  if (previous_startup_hook) previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  void* raw = ShmemInitStruct("queuecast commit-order locks",
                              sizeof(slot) * slot_count + PG_CACHE_LINE_SIZE, &found);
  slots = reinterpret_cast<slot*>(TYPEALIGN(PG_CACHE_LINE_SIZE, raw));
  if (!found) {
    TimestampTz now = GetCurrentTimestamp();
    for (int i = 0; i < slot_count; ++i) {
      slot& s = slots[i];
      pg_atomic_init_u32(&s.taken, 0);
      pg_atomic_init_u32(&s.waiters, 0);
      pg_atomic_init_u32(&s.holder_pid, 0);
      pg_atomic_init_u32(&s.holder_database, InvalidOid);
      pg_atomic_init_u64(&s.held_since, 0);
      ConditionVariableInit(&s.released);
      pg_atomic_init_u64(&s.counting_since, (uint64)now);
      pg_atomic_init_u64(&s.acquisitions, 0);
      pg_atomic_init_u64(&s.contended, 0);
      pg_atomic_init_u64(&s.waited_us, 0);
      pg_atomic_init_u64(&s.held_us, 0);
      pg_atomic_init_u64(&s.long_holds, 0);
    }
  }
  LWLockRelease(AddinShmemInitLock);
}

slot& slot_of(Oid database) {
  return slots[database % slot_count];
}

// Adds to a counter only the holder writes (see slot).
void add(pg_atomic_uint64& counter, uint64 amount) {
  pg_atomic_write_u64(&counter, pg_atomic_read_u64(&counter) + amount);
}

bool try_take(slot& s) {
  uint32 expected = 0;
  return pg_atomic_read_u32(&s.taken) == 0 &&
         pg_atomic_compare_exchange_u32(&s.taken, &expected, 1);
}

// A backend that exits while holding the lock (FATAL at pre-commit: a
// terminate while it waits inside its commit) must not leave it taken.
// Registered after PostgreSQL's own exit callbacks, this runs before the
// exit aborts the transaction: letting go first is safe, because interrupts
// are held from the commit record on, so a transaction that exits while
// holding the lock never commits.
void release_at_exit(int, Datum) {
  release();
}

// PostgreSQL's deadlock detector knows nothing of this lock. A holder waits
// for no heavyweight lock it could avoid (its relations are locked first),
// but one it cannot: its draw of the next seq can meet a row someone wrote
// into queuecast.changes by hand, uncommitted, and wait for that
// transaction. If that transaction is this waiter (or waits for it), nobody
// moves. So a sleeping waiter checks, every deadlock_timeout, whether the
// holder waits (through heavyweight locks, as pg_blocking_pids() sees them)
// for this backend, and if so breaks the cycle as the detector would.
bool holder_waits_for_me(slot& s) {
  int holder = (int)pg_atomic_read_u32(&s.holder_pid);
  if (holder == 0) return false;
  List* seen = list_make1_int(holder);
  for (int next = 0; next < list_length(seen) && next < 1000; ++next) {
    Datum result = DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(list_nth_int(seen, next)));
    ArrayType* blockers = DatumGetArrayTypeP(result);
    int count = ArrayGetNItems(ARR_NDIM(blockers), ARR_DIMS(blockers));
    const int32* pids = reinterpret_cast<const int32*>(ARR_DATA_PTR(blockers));
    for (int i = 0; i < count; ++i) {
      if (pids[i] == MyProcPid) return true;
      if (!list_member_int(seen, pids[i])) seen = lappend_int(seen, pids[i]);
    }
  }
  return false;
}

[[noreturn]] void deadlock_error(slot& s) {
  ereport(ERROR, (errcode(ERRCODE_T_R_DEADLOCK_DETECTED), errmsg("deadlock detected"),
                  errdetail("Process %d waits for queuecast's commit-order lock, held by process "
                            "%u, which waits for a lock this transaction holds.",
                            MyProcPid, pg_atomic_read_u32(&s.holder_pid)),
                  errhint("Did this transaction write rows into queuecast.changes by hand? "
                          "Only the capture should write history.")));
}

[[noreturn]] void lock_timeout_error(slot& s) {
  ereport(ERROR,
          (errcode(ERRCODE_LOCK_NOT_AVAILABLE), errmsg("canceling statement due to lock timeout"),
           errdetail("Waited %d ms for queuecast's commit-order lock, held by process %u.",
                     LockTimeout, pg_atomic_read_u32(&s.holder_pid)),
           errhint("SELECT * FROM queuecast.commit_order_holder() shows the holder.")));
}

// Retries, then sleeps until a release wakes it or lock_timeout runs out.
// Sleeping is interruptible (ConditionVariableTimedSleep checks for
// interrupts), so a cancel or statement end works as for any lock.
void wait_for(slot& s, TimestampTz started) {
  for (int attempt = 1;; ++attempt) {
    if (try_take(s)) return;
    CHECK_FOR_INTERRUPTS();
    // The clock every few tries: it costs more than a try.
    if ((spin_us == 0 || attempt % 16 == 0) && GetCurrentTimestamp() >= started + spin_us) break;
    sched_yield();
  }
  ConditionVariablePrepareToSleep(&s.released);
  TimestampTz next_deadlock_check = GetCurrentTimestamp() + (TimestampTz)DeadlockTimeout * 1000;
  while (!try_take(s)) {
    if (GetCurrentTimestamp() >= next_deadlock_check) {
      if (holder_waits_for_me(s)) {
        ConditionVariableCancelSleep();
        deadlock_error(s);
      }
      next_deadlock_check = GetCurrentTimestamp() + (TimestampTz)DeadlockTimeout * 1000;
    }
    // Bounded sleeps: a wake-up meant for us that went to a backend which
    // then errored out is not waited for longer than this.
    long sleep_ms = std::min(100, std::max(DeadlockTimeout, 1));
    if (LockTimeout > 0) {
      long left_ms =
          (long)((started + (TimestampTz)LockTimeout * 1000 - GetCurrentTimestamp()) / 1000);
      if (left_ms <= 0) {
        ConditionVariableCancelSleep();
        lock_timeout_error(s);
      }
      sleep_ms = std::min(sleep_ms, left_ms);
    }
    (void)ConditionVariableTimedSleep(&s.released, sleep_ms, PG_WAIT_EXTENSION);
  }
  ConditionVariableCancelSleep();
}

TimestampTz acquire_shared() {
  static bool exit_callback = false;
  if (!exit_callback) {  // before the lock is taken: registering may fail
    before_shmem_exit(release_at_exit, 0);
    exit_callback = true;
  }
  slot& s = slot_of(MyDatabaseId);
  TimestampTz wait_started = 0;
  if (!try_take(s)) {
    wait_started = GetCurrentTimestamp();
    pg_atomic_fetch_add_u32(&s.waiters, 1);
    PG_TRY();
    { wait_for(s, wait_started); }
    PG_CATCH();
    {
      pg_atomic_fetch_sub_u32(&s.waiters, 1);
      // A wake-up this backend took but will not use goes to the next
      // sleeper (off the list first, so that it is not woken itself).
      ConditionVariableCancelSleep();
      ConditionVariableSignal(&s.released);
      PG_RE_THROW();
    }
    PG_END_TRY();
    pg_atomic_fetch_sub_u32(&s.waiters, 1);
  }
  held = &s;
  TimestampTz now = GetCurrentTimestamp();
  held_at = now;
  add(s.acquisitions, 1);
  if (wait_started != 0) {
    add(s.contended, 1);
    add(s.waited_us, (uint64)std::max<TimestampTz>(now - wait_started, 0));
  }
  pg_atomic_write_u64(&s.held_since, (uint64)now);
  pg_atomic_write_u32(&s.holder_database, MyDatabaseId);
  pg_write_barrier();  // a reader that sees the pid sees the rest
  pg_atomic_write_u32(&s.holder_pid, (uint32)MyProcPid);
  return now;
}

// The two SQL functions below return at most one row, about this database's
// slot: the slot, once their result is set up (nullptr when not preloaded),
// and the row.
slot* slot_for_sql(FunctionCallInfo fcinfo) {
  InitMaterializedSRF(fcinfo, 0);
  return slots ? &slot_of(MyDatabaseId) : nullptr;
}

void return_row(FunctionCallInfo fcinfo, Datum* values, bool* nulls) {
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

}  // namespace

void init() {
  define_setting();
  if (!process_shared_preload_libraries_in_progress) return;
#ifdef QUEUECAST_ADVISORY_COMMIT_LOCK
  // A build for side-by-side measurements (bench/commit_lock_ab.sh): the
  // lock manager's lock even when preloaded.
  return;
#endif
  previous_request_hook = shmem_request_hook;
  shmem_request_hook = request_hook;
  previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = startup_hook;
}

TimestampTz acquire() {
  if (slots) return acquire_shared();
  acquire_advisory();
  return GetCurrentTimestamp();
}

void release() {
  if (!held) return;
  slot& s = *held;
  held = nullptr;
  uint64 hold_us = (uint64)std::max<TimestampTz>(GetCurrentTimestamp() - held_at, 0);
  add(s.held_us, hold_us);
  if (hold_us >= long_hold_us) add(s.long_holds, 1);
  pg_atomic_write_u32(&s.holder_pid, 0);
  pg_atomic_write_u32(&s.holder_database, InvalidOid);
  // A full barrier: a waiter that counted itself after this read will find
  // the lock free when it tries; one counted before is woken.
  (void)pg_atomic_exchange_u32(&s.taken, 0);
  if (pg_atomic_read_u32(&s.waiters) > 0) ConditionVariableSignal(&s.released);
}

}  // namespace queuecast::commit_lock

// queuecast.commit_lock_holder(): the holder of this database's lock in
// shared memory (no row when nobody holds it, or when not preloaded: then
// pg_locks shows the advisory lock). commit_order_holder() combines both.
extern "C" {
PG_FUNCTION_INFO_V1(queuecast_commit_lock_holder);
PGDLLEXPORT Datum queuecast_commit_lock_holder(PG_FUNCTION_ARGS);
}

Datum queuecast_commit_lock_holder(PG_FUNCTION_ARGS) {
  using namespace queuecast::commit_lock;
  slot* found = slot_for_sql(fcinfo);
  if (!found) return (Datum)0;
  slot& s = *found;
  uint32 pid = pg_atomic_read_u32(&s.holder_pid);
  pg_read_barrier();
  TimestampTz since = (TimestampTz)pg_atomic_read_u64(&s.held_since);
  if (pid == 0 || pg_atomic_read_u32(&s.holder_database) != MyDatabaseId) return (Datum)0;
  Datum values[3] = {Int32GetDatum((int32)pid), TimestampTzGetDatum(since),
                     Int64GetDatum((int64)pg_atomic_read_u32(&s.waiters))};
  bool nulls[3] = {false, false, false};
  return_row(fcinfo, values, nulls);
  return (Datum)0;
}

// queuecast.commit_order_stats(): the cumulative figures of this database's
// lock in shared memory (no row when not preloaded: the lock manager's
// advisory lock keeps none).
extern "C" {
PG_FUNCTION_INFO_V1(queuecast_commit_order_stats);
PGDLLEXPORT Datum queuecast_commit_order_stats(PG_FUNCTION_ARGS);
}

Datum queuecast_commit_order_stats(PG_FUNCTION_ARGS) {
  using namespace queuecast::commit_lock;
  slot* found = slot_for_sql(fcinfo);
  if (!found) return (Datum)0;
  slot& s = *found;
  Datum values[6] = {TimestampTzGetDatum((TimestampTz)pg_atomic_read_u64(&s.counting_since)),
                     Int64GetDatum((int64)pg_atomic_read_u64(&s.acquisitions)),
                     Int64GetDatum((int64)pg_atomic_read_u64(&s.contended)),
                     Float8GetDatum((double)pg_atomic_read_u64(&s.waited_us) / 1000.0),
                     Float8GetDatum((double)pg_atomic_read_u64(&s.held_us) / 1000.0),
                     Int64GetDatum((int64)pg_atomic_read_u64(&s.long_holds))};
  bool nulls[6] = {false, false, false, false, false, false};
  return_row(fcinfo, values, nulls);
  return (Datum)0;
}
