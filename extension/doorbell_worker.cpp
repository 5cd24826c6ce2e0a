// The doorbell's background processes (extension/doorbell.hpp): the
// launcher, and one worker per database that rings NOTIFY queuecast.
#include <string>

#include "doorbell.hpp"
#include "doorbell_shmem.hpp"
#include "pg_boundary.hpp"

extern "C" {
PGDLLEXPORT void queuecast_doorbell_launcher_main(Datum);
PGDLLEXPORT void queuecast_doorbell_main(Datum database);
}

namespace queuecast {

namespace {

// How long the launcher sleeps between looks at the slots when nothing wakes
// it: it retries a worker that could not be started this often.
constexpr long launcher_nap_ms = 1000;
// How long a worker waits before ringing again after a ring failed (the
// NOTIFY queue full, for instance).
constexpr long retry_after_ms = 1000;

void reload_settings_if_asked() {
  if (!ConfigReloadPending) return;
  ConfigReloadPending = false;
  ProcessConfigFile(PGC_SIGHUP);
}

// --- the launcher --------------------------------------------------------------

// The worker the launcher started per slot, until it has stopped.
BackgroundWorkerHandle* started[doorbell::max_databases];

bool start_worker(Oid database, BackgroundWorkerHandle** handle) {
  BackgroundWorker worker{};
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  // Not restarted by the postmaster: the launcher starts a worker whenever a
  // bell is pending and none runs, which also covers a worker that died.
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  strlcpy(worker.bgw_library_name, "queuecast", BGW_MAXLEN);
  strlcpy(worker.bgw_function_name, "queuecast_doorbell_main", BGW_MAXLEN);
  snprintf(worker.bgw_name, BGW_MAXLEN, "queuecast doorbell for database %u", database);
  strlcpy(worker.bgw_type, "queuecast doorbell", BGW_MAXLEN);
  worker.bgw_main_arg = ObjectIdGetDatum(database);
  worker.bgw_notify_pid = MyProcPid;  // wakes us when it starts and when it stops
  return RegisterDynamicBackgroundWorker(&worker, handle);
}

void look_after_slots() {
  for (int slot = 0; slot < doorbell::max_databases; ++slot) {
    if (started[slot]) {
      pid_t pid = 0;
      BgwHandleStatus status = GetBackgroundWorkerPid(started[slot], &pid);
      if (status == BGWH_POSTMASTER_DIED) proc_exit(1);
      if (status != BGWH_STOPPED) continue;  // starting or running
      pfree(started[slot]);
      started[slot] = nullptr;
    }
    Oid database = doorbell::needs_worker(slot);
    if (database == InvalidOid) continue;
    bool ok = start_worker(database, &started[slot]);
    if (!ok) started[slot] = nullptr;
    // Until a worker runs, that database's writers ring themselves. Retried
    // every launcher_nap_ms; logged once until a start succeeds.
    bool failed_before = doorbell::launch_result(slot, database, ok);
    if (!ok && !failed_before) {
      ereport(LOG,
              (errmsg("queuecast doorbell: could not start a worker for database %u", database),
               errhint("Raise max_worker_processes; until then writers notify "
                       "in their own transactions.")));
    }
  }
}

void launcher_exit(int, Datum) {
  doorbell::launcher_detach();
}

[[noreturn]] void launcher_main() {
  pqsignal(SIGTERM, die);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  // Connected to no database, only so that pg_stat_activity shows it.
  BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
  doorbell::launcher_attach(MyLatch);
  on_shmem_exit(launcher_exit, 0);
  for (;;) {
    look_after_slots();
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, launcher_nap_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    reload_settings_if_asked();
  }
}

// --- a database's worker -------------------------------------------------------

struct worker_state {
  Oid database = InvalidOid;
  int slot = -1;
  bool connected = false;
  // Taken from the slot but not yet rung: given back if the worker exits.
  doorbell::pending_bell in_flight;
};
worker_state me;

void worker_exit(int, Datum) {
  doorbell::give_back(me.slot, me.database, me.in_flight);
  doorbell::worker_detach(me.slot, me.database, MyProcPid, me.connected);
}

// One NOTIFY in a transaction of our own. Its commit does not wait for a
// WAL flush: PostgreSQL does not flush the commit record of a transaction
// that wrote nothing else, and synchronous_commit is off in this process
// besides. The bell is worth nothing after a crash, when every listener
// reconnects and reads the history anyway.
// False (after a WARNING) if it failed.
bool ring(const doorbell::pending_bell& bell) {
  std::string text = render_doorbell(bell.range, unix_micros(bell.at));
  const char* payload = text.c_str();
  ErrorData* failure = nullptr;
  try {
    pg_call([&] {
      SetCurrentStatementStartTimestamp();
      StartTransactionCommand();
      pgstat_report_activity(STATE_RUNNING, "NOTIFY queuecast");
      Async_Notify("queuecast", payload);
      CommitTransactionCommand();
      pgstat_report_activity(STATE_IDLE, nullptr);
    });
    return true;
  } catch (pg_error& e) {
    failure = e.release();
  }
  AbortCurrentTransaction();
  pgstat_report_activity(STATE_IDLE, nullptr);
  ereport(WARNING, (errmsg("queuecast doorbell: could not notify: %s",
                           failure && failure->message ? failure->message : "unknown error"),
                    errdetail("Retrying in %ld ms.", retry_after_ms)));
  if (failure) FreeErrorData(failure);
  return false;
}

[[noreturn]] void worker_main(Oid database) {
  pqsignal(SIGTERM, die);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  me.database = database;
  me.slot = doorbell::worker_attach(database, MyProcPid, MyLatch);
  // Nothing to ring any more, or another worker has this database.
  if (me.slot < 0) proc_exit(0);
  on_shmem_exit(worker_exit, 0);
  BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
  me.connected = true;
  SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
  pgstat_report_activity(STATE_IDLE, nullptr);

  TimestampTz last_bell = GetCurrentTimestamp();
  long wait_ms = 0;  // the first look at the slot is immediate
  bool backing_off = false;
  for (;;) {
    if (wait_ms > 0) {
      // After a failed ring, new bells do not cut the pause short: a NOTIFY
      // queue that is full stays full for a while, and each try logs. After
      // a ring, neither do they cut queuecast.doorbell_interval short: the
      // commits within it share the next ring, and their writers' SetLatch
      // finds no sleeper to signal.
      int events = WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | (backing_off ? 0 : WL_LATCH_SET);
      (void)WaitLatch(MyLatch, events, wait_ms, PG_WAIT_EXTENSION);
    }
    backing_off = false;
    // Reset before taking: a bell published after this wakes the next wait.
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    reload_settings_if_asked();

    int idle_timeout_ms = doorbell_idle_timeout_ms();
    wait_ms = idle_timeout_ms > 0 ? idle_timeout_ms : 60 * 1000;
    if (doorbell::take(me.slot, me.database, &me.in_flight)) {
      // Every commit published until take() is in this one notification.
      if (ring(me.in_flight)) {
        me.in_flight = doorbell::pending_bell{};
        if (doorbell_interval_ms() > 0) {
          wait_ms = doorbell_interval_ms();
          backing_off = true;
        }
      } else {
        doorbell::give_back(me.slot, me.database, me.in_flight);
        me.in_flight = doorbell::pending_bell{};
        wait_ms = retry_after_ms;
        backing_off = true;
      }
      last_bell = GetCurrentTimestamp();
      continue;
    }
    if (idle_timeout_ms > 0 &&
        TimestampDifferenceExceeds(last_bell, GetCurrentTimestamp(), idle_timeout_ms) &&
        doorbell::release_if_idle(me.slot, me.database)) {
      proc_exit(0);  // exit code 0: the postmaster forgets this worker
    }
    if (idle_timeout_ms > 0) {
      long left = idle_timeout_ms - (long)((GetCurrentTimestamp() - last_bell) / 1000);
      wait_ms = left > 0 ? left : 1;
    }
  }
}

}  // namespace

}  // namespace queuecast

void queuecast_doorbell_launcher_main(Datum) {
  queuecast::launcher_main();
}

void queuecast_doorbell_main(Datum database) {
  queuecast::worker_main(DatumGetObjectId(database));
}
